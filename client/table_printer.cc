#include "client/table_printer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace fnprobe::client {
namespace {

// Display width of UTF-8 text: code points, not bytes.
size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

// "12,345", "-3.5", "1.2e-05", "0.83", "45%", "12.3k": numbers as printed.
bool LooksNumeric(const std::string& cell) {
  std::string text = absl::StrReplaceAll(cell, {{",", ""}});
  absl::string_view view(text);
  if (!view.empty() && (view.back() == '%' || view.back() == 'k' ||
                        view.back() == 'M' || view.back() == 'G')) {
    view.remove_suffix(1);
  }
  double value;
  return absl::SimpleAtod(view, &value);
}

}  // namespace

TablePrinter::TablePrinter(std::vector<std::string> headers)
    : headers_(std::move(headers)) {}

void TablePrinter::AddRow(std::vector<std::string> cells) {
  cells.resize(std::max(cells.size(), headers_.size()));
  rows_.push_back(std::move(cells));
}

std::vector<size_t> TablePrinter::Widths() const {
  std::vector<size_t> widths;
  for (const std::string& h : headers_) widths.push_back(DisplayWidth(h));
  for (const auto& row : rows_) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  return widths;
}

bool TablePrinter::IsNumericColumn(size_t column) const {
  bool any = false;
  for (const auto& row : rows_) {
    if (column >= row.size() || row[column].empty() || row[column] == "-") {
      continue;
    }
    if (!LooksNumeric(row[column])) return false;
    any = true;
  }
  return any;
}

std::string TablePrinter::FormatRow(const std::vector<std::string>& cells,
                                    const std::vector<size_t>& widths,
                                    const std::vector<bool>& right) const {
  std::string line = indent_;
  for (size_t i = 0; i < widths.size(); ++i) {
    const std::string& cell = i < cells.size() ? cells[i] : std::string();
    std::string pad(widths[i] - DisplayWidth(cell), ' ');
    if (i > 0) line += "  ";
    line += right[i] ? pad + cell : cell + pad;
  }
  return std::string(absl::StripTrailingAsciiWhitespace(line));
}

void TablePrinter::Print(std::ostream& out) const {
  std::vector<size_t> widths = Widths();
  std::vector<bool> right(widths.size());
  for (size_t i = 0; i < widths.size(); ++i) right[i] = IsNumericColumn(i);
  out << FormatRow(headers_, widths, right) << "\n";
  for (const auto& row : rows_) out << FormatRow(row, widths, right) << "\n";
}

}  // namespace fnprobe::client
