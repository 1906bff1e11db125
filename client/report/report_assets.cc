#include "client/report/report_assets.h"

// The files are pulled in by the assembler's .incbin (GCC and Clang on ELF),
// which copies bytes verbatim and fast; a generated hex array of 830 KB of
// JavaScript would take the compiler far longer. CMake passes the paths and
// lists the files as this object's dependencies. Each blob is followed by a
// NUL so that its end symbol is well defined.
#define FNPROBE_INCBIN(sym, path)     \
  __asm__(                            \
      ".section .rodata\n"            \
      ".balign 16\n"                  \
      ".globl " #sym                  \
      "_begin\n"                      \
      ".hidden " #sym "_begin\n" #sym \
      "_begin:\n"                     \
      ".incbin \"" path               \
      "\"\n"                          \
      ".globl " #sym                  \
      "_end\n"                        \
      ".hidden " #sym "_end\n" #sym   \
      "_end:\n"                       \
      ".byte 0\n"                     \
      ".previous\n")

FNPROBE_INCBIN(fnprobe_vega_js, FNPROBE_VEGA_JS);
FNPROBE_INCBIN(fnprobe_vega_lite_js, FNPROBE_VEGA_LITE_JS);
FNPROBE_INCBIN(fnprobe_vega_embed_js, FNPROBE_VEGA_EMBED_JS);

extern "C" {
extern const char fnprobe_vega_js_begin[];
extern const char fnprobe_vega_js_end[];
extern const char fnprobe_vega_lite_js_begin[];
extern const char fnprobe_vega_lite_js_end[];
extern const char fnprobe_vega_embed_js_begin[];
extern const char fnprobe_vega_embed_js_end[];
}

namespace fnprobe::client::report {

absl::string_view VegaJs() {
  return {fnprobe_vega_js_begin,
          static_cast<size_t>(fnprobe_vega_js_end - fnprobe_vega_js_begin)};
}

absl::string_view VegaLiteJs() {
  return {fnprobe_vega_lite_js_begin,
          static_cast<size_t>(fnprobe_vega_lite_js_end -
                              fnprobe_vega_lite_js_begin)};
}

absl::string_view VegaEmbedJs() {
  return {fnprobe_vega_embed_js_begin,
          static_cast<size_t>(fnprobe_vega_embed_js_end -
                              fnprobe_vega_embed_js_begin)};
}

absl::string_view VegaVersions() { return FNPROBE_VEGA_VERSIONS; }

absl::string_view SoftwareVersion() { return "fnprobe " FNPROBE_GIT_VERSION; }

}  // namespace fnprobe::client::report
