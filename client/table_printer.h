// A plain-text table with aligned columns: a header row, then data rows,
// columns separated by two spaces. A column whose cells are all numbers
// (after the header) is right-aligned; others are left-aligned. Cells hold
// preformatted text (see number_format.h); a row shorter than the header is
// padded with empty cells.
//
//   TablePrinter table({"id", "name", "phase"});
//   table.AddRow({"3", "topics", "done"});
//   table.Print(std::cout);
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_TABLE_PRINTER_H_
#define FNPROBE_CLIENT_TABLE_PRINTER_H_

#include <ostream>
#include <string>
#include <vector>

namespace fnprobe::client {

class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> headers);

  // Prefix written before every line (e.g. "  " to indent the table).
  void set_indent(std::string indent) { indent_ = std::move(indent); }

  void AddRow(std::vector<std::string> cells);
  size_t num_rows() const { return rows_.size(); }

  // Writes the header and every row, each line ending in '\n' with trailing
  // spaces trimmed.
  void Print(std::ostream& out) const;

 private:
  std::vector<size_t> Widths() const;
  bool IsNumericColumn(size_t column) const;
  std::string FormatRow(const std::vector<std::string>& cells,
                        const std::vector<size_t>& widths,
                        const std::vector<bool>& right) const;

  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::string indent_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_TABLE_PRINTER_H_
