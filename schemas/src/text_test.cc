#include "khronika/schemas/text.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

// UTF-8 of one code point (test-side, written independently of text.cc).
std::string Utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

// The code points the issue named, and the rest of the list's edges.
const std::vector<uint32_t> kHidden = {
    0x0080, 0x0085, 0x009F, 0x00AD, 0x061C, 0x115F, 0x1160, 0x200B, 0x200E,  0x200F,  0x202A,
    0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,  0x2066,  0x2067,
    0x2068, 0x2069, 0x206F, 0x3164, 0xFEFF, 0xFFA0, 0xFFF9, 0xFFFB, 0xE0000, 0xE0041, 0xE007F};
// Visible, or needed by ordinary text: ZWNJ and ZWJ (Persian, Indic scripts, emoji), variation
// selectors, letters next to the ranges.
const std::vector<uint32_t> kShown = {'a',     0x007E,  0x00A0,  0x00AC,  0x00AE, 0x061B, 0x061D,
                                      0x200A,  0x200C,  0x200D,  0x2010,  0x2029, 0x202F, 0x205F,
                                      0x2070,  0x3163,  0xFE0F,  0xFEFE,  0xFF21, 0xFFFC, 0xFFFD,
                                      0x1F4F7, 0xDFFFF, 0xE0080, 0x10FFFF};

TEST(TextTest, InvisibleCodePoints) {
  for (uint32_t cp : kHidden) EXPECT_TRUE(IsInvisibleCodePoint(cp)) << CodePointLabel(cp);
  for (uint32_t cp : kShown) EXPECT_FALSE(IsInvisibleCodePoint(cp)) << CodePointLabel(cp);
  for (const CodePointRange& r : kInvisibleCodePoints) EXPECT_LE(r.first, r.last);
}

TEST(TextTest, CodePointLabels) {
  EXPECT_EQ(CodePointLabel(0x202E), "U+202E");
  EXPECT_EQ(CodePointLabel(0xAD), "U+00AD");
  EXPECT_EQ(CodePointLabel(0), "U+0000");
  EXPECT_EQ(CodePointLabel(0xE0041), "U+E0041");
  EXPECT_EQ(CodePointLabel(0x10FFFF), "U+10FFFF");
}

TEST(TextTest, ShowInvisibleWritesEachHiddenCodePointOut) {
  EXPECT_EQ(ShowInvisible("evil" + Utf8(0x202E) + "fdp.exe"), "evil<U+202E>fdp.exe");
  EXPECT_EQ(ShowInvisible(Utf8(0xFEFF) + "a" + Utf8(0x200B) + Utf8(0x061C) + "b" + Utf8(0xE0041)),
            "<U+FEFF>a<U+200B><U+061C>b<U+E0041>");
  for (uint32_t cp : kHidden) {
    EXPECT_EQ(ShowInvisible("x" + Utf8(cp) + "y"), "x<" + CodePointLabel(cp) + ">y");
    EXPECT_EQ(FirstInvisibleCodePoint("x" + Utf8(cp) + "y" + Utf8(0x202E)), cp);
  }
  for (uint32_t cp : kShown) {
    std::string s = "x" + Utf8(cp) + "y";
    EXPECT_EQ(ShowInvisible(s), s) << CodePointLabel(cp);
    EXPECT_FALSE(FirstInvisibleCodePoint(s)) << CodePointLabel(cp);
  }
  // Persian with a zero width non-joiner, Ukrainian, tab and newline: unchanged.
  const std::string persian =
      "\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85";
  EXPECT_EQ(ShowInvisible(persian), persian);
  EXPECT_EQ(ShowInvisible("Харків\tline\n"), "Харків\tline\n");
  // Not UTF-8: each bad byte becomes U+FFFD, so a terminal never sees a broken sequence.
  EXPECT_EQ(ShowInvisible("a\xff"
                          "b\xe2\x80"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ShowInvisible(""), "");
}

TEST(TextTest, FileNamesWithHiddenCodePointsAreRefusedNamingTheCodePoint) {
  for (uint32_t cp : kHidden) {
    Status s = ValidateFileName("report" + Utf8(cp) + ".pdf");
    ASSERT_FALSE(s.ok()) << CodePointLabel(cp);
    EXPECT_NE(s.message().find(CodePointLabel(cp)), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("invisible or text-direction control"), std::string::npos)
        << s.message();
  }
  for (uint32_t cp : kShown) {
    if (cp < 0x20 || cp == 0x7f) continue;
    EXPECT_TRUE(ValidateFileName("report" + Utf8(cp) + ".pdf").ok()) << CodePointLabel(cp);
  }
}

TEST(TextTest, SafeLocalFileNames) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"statement.txt", "statement.txt"},
      {"Доказательство №1.pdf", "Доказательство №1.pdf"},
      {"name with spaces.txt", "name with spaces.txt"},
      {"_bash_profile", "_bash_profile"},
      {".bash_profile", "_bash_profile"},
      {".hidden", "_hidden"},
      {".ssh", "_ssh"},
      {"-rf", "_rf"},
      {"--help.txt", "_-help.txt"},
      {"~root", "_root"},
      {"a~b", "a~b"},
      {"CON", "_CON"},
      {"con.txt", "_con.txt"},
      {"aux.tar.gz", "_aux.tar.gz"},
      {"nul ", "nul_"},
      {"COM1.log", "_COM1.log"},
      {"lpt9", "_lpt9"},
      {"console.txt", "console.txt"},
      {"COM10", "COM10"},
      {"a:b*c?d<e>f|g.txt", "a_b_c_d_e_f_g.txt"},
      {"it's \"quoted\".txt", "it's _quoted_.txt"},
      {"trailing dot.", "trailing dot_"},
      {"trailing space ", "trailing space_"},
      {"dots...", "dots___"},
      {"*", "_"},
      {"evil" + Utf8(0x202E) + "fdp.exe", "evil_fdp.exe"},
      {Utf8(0xFEFF) + "x", "_x"},
      {"bad\xff.txt", "bad_.txt"},
      {"", "_"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(SafeLocalFileName(in), want) << in;
    EXPECT_EQ(SafeLocalFileName(want), want) << "not stable: " << want;
  }
  std::string longest(251, 'n');
  longest += ".txt";
  EXPECT_EQ(SafeLocalFileName(longest), longest);
  std::string con = "CON." + std::string(251, 'x');  // 255 bytes: no room for a '_' in front
  EXPECT_EQ(SafeLocalFileName(con), "_ON." + std::string(251, 'x'));
}

std::vector<std::string> Names(const std::vector<LocalFileNames>& plan) {
  std::vector<std::string> out;
  for (const auto& f : plan) out.push_back(f.name);
  return out;
}

TEST(TextTest, PlannedNamesAreUniqueIgnoringCaseAndPartsCollideWithNothing) {
  // Safe names keep theirs, even when a renamed one comes first.
  auto plan =
      PlanLocalFileNames({".bash_profile", "_bash_profile", "_bash_profile-2", "statement.txt"});
  EXPECT_EQ(Names(plan), (std::vector<std::string>{"_bash_profile-3", "_bash_profile",
                                                   "_bash_profile-2", "statement.txt"}));
  EXPECT_EQ(plan[3].part, "statement.txt.part");

  // Letter case: the second of two names that a case-insensitive file system holds as one.
  plan = PlanLocalFileNames({"Photo.JPG", "photo.jpg", ".Photo.jpg", "_photo.jpg"});
  EXPECT_EQ(Names(plan),
            (std::vector<std::string>{"Photo.JPG", "photo-2.jpg", "_Photo-2.jpg", "_photo.jpg"}));

  // A file named like another's part: the part moves aside.
  plan = PlanLocalFileNames({"x", "x.part", "x.1.part"});
  EXPECT_EQ(Names(plan), (std::vector<std::string>{"x", "x.part", "x.1.part"}));
  EXPECT_EQ(plan[0].part, "x.2.part");
  EXPECT_EQ(plan[1].part, "x.part.part");

  // 255-byte names: the part is shortened on a UTF-8 boundary, a "-2" goes before the extension.
  std::string cyr;
  for (int i = 0; i < 125; ++i) cyr += "ж";
  cyr += "a.txt";
  ASSERT_EQ(cyr.size(), 255u);
  plan = PlanLocalFileNames({cyr, "A" + cyr.substr(0, 250) + "T"});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].name, cyr);
  EXPECT_LE(plan[0].part.size(), 255u);
  EXPECT_EQ(plan[0].part, cyr.substr(0, 250) + ".part");
  plan = PlanLocalFileNames({cyr, cyr.substr(0, 250) + "A.TXT"});
  EXPECT_EQ(plan[1].name, cyr.substr(0, 248) + "-2.TXT");
  EXPECT_EQ(plan[1].name.size(), 254u);  // 248 bytes cut back to a whole "ж"

  // Many collisions, all different, none too long, none hidden.
  std::vector<std::string> many;
  for (int i = 0; i < 30; ++i) many.push_back(i % 2 ? ".env" : "_ENV");
  plan = PlanLocalFileNames(many);
  std::set<std::string> seen;
  for (const auto& f : plan) {
    std::string folded_name, folded_part;
    for (char c : f.name)
      folded_name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char c : f.part)
      folded_part += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(seen.insert(folded_name).second) << f.name;
    EXPECT_TRUE(seen.insert(folded_part).second) << f.part;
    EXPECT_NE(f.name[0], '.');
    EXPECT_LE(f.part.size(), 255u);
  }
}

}  // namespace
}  // namespace khronika
