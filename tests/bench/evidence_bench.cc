// The evidence benchmark, in one run (docs/performance.md, "Court bundles and the git mirror"):
// a case of N entries (default 10,000, one 4 KiB file each) is exported as a court bundle
// (khronika-bundle/2: every entry disclosed, its sealed and plaintext bytes) and verified offline,
// and the node's log is exported to a git mirror (ciphertext only); each figure is printed beside
// a baseline measured on the same data in the same run:
//   export         vs  `cp -r` of the bundle it wrote (the cost of writing that many files)
//   verify-bundle  vs  `sha256sum -c MANIFEST.sha256` plus N Ed25519 verifications (the floor
//                      of hashing every byte and checking every signature once)
//   mirror export  vs  `git fsck --full --strict` of the mirror it wrote
// Asserts nothing.   evidence_bench [ENTRIES]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "khronika/bundle/bundle.h"
#include "khronika/bundle/verify_bundle.h"
#include "khronika/log/node.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"

namespace {

using namespace khronika;
namespace fs = std::filesystem;

double Seconds(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "evidence_bench: " << what << ": " << s.ToString() << "\n";
    std::exit(1);
  }
}

void Shell(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::cerr << "evidence_bench: failed: " << command << "\n";
    std::exit(1);
  }
}

long PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
  std::string tmpl = (fs::temp_directory_path() / "khronika-evidence-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path work = tmpl;
  auto node_or = Node::Init(work / "node", "bench");
  Check(node_or.status(), "init");
  std::unique_ptr<Node> node = std::move(node_or).value();
  SigningKey author = SigningKey::Generate();
  Check(RegisterAuthor(node->store(), author.public_key(), "Bench Author"), "author");

  // The case: N entries of one 4 KiB file each, appended 100 to a transaction.
  std::vector<Signature> signatures;
  double ingest = Seconds([&] {
    for (uint64_t done = 0; done < entries;) {
      std::vector<Submission> batch;
      std::vector<std::string> contents;
      for (uint64_t i = done; i < entries && contents.size() < 100; ++i) {
        std::string content(4096, '\0');
        for (size_t j = 0; j < content.size(); ++j) content[j] = static_cast<char>((i * 131 + j * 7) & 0xff);
        std::memcpy(content.data(), &i, sizeof i);
        contents.push_back(std::move(content));
      }
      std::vector<Hash> ids(contents.size());
      Check(node->store().Update([&](WriteTxn& txn) -> Status {
        for (size_t k = 0; k < contents.size(); ++k) {
          KH_ASSIGN_OR_RETURN(ids[k], PutUploadChunk(txn, "", AsBytes(contents[k])));
        }
        return Status::Ok();
      }), "upload chunks");
      for (size_t k = 0; k < contents.size(); ++k) {
        const std::string& content = contents[k];
        SubmittedFile f;
        f.opening.descriptor = {"photo-" + std::to_string(done) + ".jpg", "image/jpeg",
                                content.size(), Sha256(content)};
        RandomBytes(f.opening.salt.data(), f.opening.salt.size());
        f.upload_chunks = {ids[k]};
        Submission s;
        s.entry.case_id = "bench-case";
        s.entry.kind = "evidence";
        s.entry.created_at_ms = 1767225600000 + static_cast<int64_t>(done);
        s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
        s.entry.metadata = {{"n", std::to_string(done)}};
        SignEntry(s.entry, author);
        signatures.push_back(s.entry.signature);
        s.files = {std::move(f)};
        batch.push_back(std::move(s));
        ++done;
      }
      Check(node->log().Append(batch).status(), "append");
    }
  });

  const fs::path bundle = work / "bundle";
  double export_s = Seconds([&] {
    Result<BundlePlan> plan = Status::NotFound("unset");
    Check(node->store().View([&](ReadTxn& txn) -> Status {
      BundleRequest request;
      request.case_id = "bench-case";
      request.now_ms = 1767225700000;
      request.exported_by = "bench";
      request.local_cosigner_vkey = node->cosigner_verifier_key();
      plan = PlanBundle(txn, EntryKey::Archive(node->archive_key()), request);
      return Status::Ok();
    }), "view");
    Check(plan.status(), "plan");
    Check(WriteBundleDirectory(node->store(), *plan, bundle), "write bundle");
  });
  double copy_s = Seconds([&] { Shell("cp -r '" + bundle.string() + "' '" + (work / "copy").string() + "'"); });

  BundleVerification verification;
  double verify_s = Seconds([&] {
    auto v = VerifyBundle(bundle);
    Check(v.status(), "verify-bundle");
    verification = std::move(*v);
  });
  if (!verification.ok() || verification.entries != entries) {
    std::cerr << "evidence_bench: the bundle did not verify\n";
    return 1;
  }
  double sha_s = Seconds([&] { Shell("cd '" + bundle.string() + "' && sha256sum --quiet -c MANIFEST.sha256"); });
  // The signature floor: the same number of Ed25519 verifications, on one fixed message.
  Bytes message(60, 7);
  Signature sig = author.Sign(message);
  double ed_s = Seconds([&] {
    for (uint64_t i = 0; i < entries; ++i) {
      if (!VerifySignature(author.public_key(), message, sig)) std::exit(1);
    }
  });

  const fs::path mirror = work / "mirror.git";
  double mirror_s = 0, again_s = 0, fsck_s = 0;
  bool mirror_ok = true;
  mirror_s = Seconds([&] {
    auto r = ExportMirror(node->store(), mirror);
    mirror_ok = r.ok();
    if (!r.ok()) std::cerr << "mirror export: " << r.status().ToString() << "\n";
  });
  if (mirror_ok) {
    again_s = Seconds([&] { Check(ExportMirror(node->store(), mirror).status(), "mirror again"); });
    fsck_s = Seconds([&] { Shell("git --git-dir='" + mirror.string() + "' fsck --full --strict --no-progress"); });
  }

  std::printf("evidence benchmark: one case of %llu entries (one 4 KiB file each)\n",
              static_cast<unsigned long long>(entries));
  std::printf("  ingest (100 per transaction)  %8.2f s\n", ingest);
  std::printf("  export bundle                 %8.2f s   cp -r of it %6.2f s   ratio %5.2fx\n", export_s,
              copy_s, export_s / copy_s);
  std::printf("  verify-bundle                 %8.2f s   sha256sum -c + Ed25519 floor %6.2f s   ratio %5.2fx\n",
              verify_s, sha_s + ed_s, verify_s / (sha_s + ed_s));
  if (mirror_ok) {
    std::printf("  mirror export                 %8.2f s   git fsck --full --strict %6.2f s   ratio %5.2fx\n",
                mirror_s, fsck_s, mirror_s / fsck_s);
    std::printf("  mirror export, nothing new    %8.2f s\n", again_s);
  }
  std::printf("  peak RSS of this process      %8ld MiB\n", PeakRssMiB());
  node.reset();
  fs::remove_all(work);
  return 0;
}
