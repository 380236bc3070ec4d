// Text that people read: which code points do not show themselves, and how Khronika shows
// them. Pure: no I/O.
//
// A submitter controls file names and metadata values. A code point that is invisible, or that
// reorders the text around it (bidirectional controls), can make "evil<U+202E>fdp.exe" read as
// "evilexe.pdf", or hide words from a reader while they stay in the signed bytes. File names
// must not contain them (ValidateFileName); metadata values keep them, since the author signed
// those bytes, but every view a person reads writes them out with ShowInvisible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khronika {

struct CodePointRange {
  uint32_t first;
  uint32_t last;  // inclusive
};

// The one list. The web console keeps a copy (INVISIBLE_CODE_POINTS in
// server/http/console/format.js); tests/browser/format_test.mjs reads this array from this file
// and fails if the two differ, so keep one range per line in this form.
//
// Not listed, on purpose: U+200C and U+200D (zero width non-joiner and joiner), which Persian,
// Kurdish, Urdu and the Indic scripts need in ordinary words and emoji sequences use; they join
// or separate letters but neither hide nor reorder text. Nor the variation selectors (emoji).
inline constexpr CodePointRange kInvisibleCodePoints[] = {
    {0x0080, 0x009F},    // C1 controls
    {0x00AD, 0x00AD},    // soft hyphen
    {0x061C, 0x061C},    // Arabic letter mark (bidirectional)
    {0x115F, 0x1160},    // Hangul choseong and jungseong fillers (blank)
    {0x200B, 0x200B},    // zero width space
    {0x200E, 0x200F},    // left-to-right and right-to-left marks
    {0x202A, 0x202E},    // bidirectional embeddings, pop and overrides
    {0x2060, 0x206F},    // word joiner, invisible operators, isolates, deprecated format controls
    {0x3164, 0x3164},    // Hangul filler (blank)
    {0xFEFF, 0xFEFF},    // zero width no-break space (byte order mark)
    {0xFFA0, 0xFFA0},    // halfwidth Hangul filler (blank)
    {0xFFF9, 0xFFFB},    // interlinear annotation controls
    {0xE0000, 0xE007F},  // tag characters (invisible copies of ASCII)
};

// True if `cp` is in kInvisibleCodePoints.
bool IsInvisibleCodePoint(uint32_t cp);

// The first code point of kInvisibleCodePoints in `utf8`, if any. Bytes that are not valid
// UTF-8 are skipped (ValidateFileName and ValidateMetadata refuse them separately).
std::optional<uint32_t> FirstInvisibleCodePoint(std::string_view utf8);

// "U+202E": "U+" and at least four uppercase hex digits.
std::string CodePointLabel(uint32_t cp);

// `utf8` as a person should see it: each code point of kInvisibleCodePoints written as
// "<U+202E>", and each byte that is not valid UTF-8 as U+FFFD; everything else unchanged.
std::string ShowInvisible(std::string_view utf8);

// ---- Names for files written into a person's folder (khronika get) ----

// A file name that is safe to create in a user's folder on the common file systems, made from
// a name that passed ValidateFileName. Changes, each to '_':
//   - a leading '.' (hidden files and shell start-up files such as .bash_profile), '-' (read as
//     an option by the tools a person runs in that folder) or '~';
//   - code points of kInvisibleCodePoints, bytes that are not valid UTF-8, control bytes, '/',
//     '\\', and the characters Windows file systems refuse: < > : " | ? *
//   - trailing '.' and ' ' (Windows drops them, so "a." and "a" would be one file);
// and puts '_' before a Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with any
// extension). A name that needs none of this is returned unchanged. At most 255 bytes.
std::string SafeLocalFileName(std::string_view name);

// Where `khronika get` writes each of an entry's files (names in entry order): `name`, the file
// name to create, and `part`, the name it is downloaded under before it is verified.
struct LocalFileNames {
  std::string name;
  std::string part;
};
// Names that SafeLocalFileName leaves unchanged keep them; the others, and later repeats of a
// name when letter case is ignored (as it is on macOS and Windows), get SafeLocalFileName with
// "-2", "-3", ... before the extension, until no two names are the same ignoring ASCII case.
// `part` is name + ".part" (shortened to fit 255 bytes), or name + ".N.part" where that would be
// another file's name or part; no two of all the names and parts are the same ignoring case.
std::vector<LocalFileNames> PlanLocalFileNames(const std::vector<std::string>& names);

// "2026-12-06 10:55:58 UTC" for a time in milliseconds since 1970: how reports, the access log
// and the CLI show times.
std::string UtcTime(int64_t ms);

}  // namespace khronika
