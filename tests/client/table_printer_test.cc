#include "client/table_printer.h"

#include <sstream>

#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

// Text columns are left-aligned, numeric ones right-aligned, two spaces
// apart, with no trailing spaces.
TEST(TablePrinterTest, AlignsTextLeftAndNumbersRight) {
  TablePrinter table({"name", "units", "share"});
  table.AddRow({"pathology", "1,204", "12.5%"});
  table.AddRow({"art", "7", "0.1%"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "name       units  share\n"
            "pathology  1,204  12.5%\n"
            "art            7   0.1%\n");
}

// Short rows are padded; multi-byte UTF-8 counts as one column per code
// point; an indent prefixes every line.
TEST(TablePrinterTest, PadsShortRowsAndCountsCodePoints) {
  TablePrinter table({"a", "b"});
  table.set_indent("  ");
  table.AddRow({"é"});
  table.AddRow({"xy", "z"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "  a   b\n  é\n  xy  z\n");
}

}  // namespace
}  // namespace fnprobe::client
