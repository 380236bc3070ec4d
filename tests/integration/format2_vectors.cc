// Writes, as one JSON object on stdout, a format 2 entry sealed by this code with random keys,
// its sealed chunks, the secrets that open it, and a recovery of its archive key by 2 of 3
// partners, for format2_independent.py to check against docs/format-2.md alone.
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace {

using namespace khronika;
using nlohmann::json;

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    std::cerr << r.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(*r);
}

Bytes Content(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 9));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  // "tamper": flip one byte of one sealed chunk, which the independent check must refuse.
  const bool tamper = argc > 1 && std::string(argv[1]) == "tamper";
  const SymmetricKey archive_key = RandomSymmetricKey();
  const std::string case_id = "case-2026-014";
  SigningKey author = SigningKey::Generate();
  std::vector<Bytes> contents = {Content(0, 1), Content(40000, 2), Content(1200 * 1024, 3)};
  std::vector<std::string> names = {"empty.txt", "statement.pdf", "recording.m4a"};

  SignedEntry entry;
  entry.case_id = case_id;
  entry.created_at_ms = 1767225600000;
  entry.kind = "evidence";
  entry.metadata = {{"place", "Moscow"}, {"source", "hotline"}};
  EntryToSeal in;
  RandomBytes(in.nonce.data(), in.nonce.size());
  in.case_id = case_id;
  RandomBytes(in.prev_case_record.data(), in.prev_case_record.size());
  for (size_t i = 0; i < contents.size(); ++i) {
    FileOpening o;
    o.descriptor = {names[i], GuessMediaType(names[i]), contents[i].size(), Sha256(contents[i])};
    RandomBytes(o.salt.data(), o.salt.size());
    entry.files.push_back(FileCommitment(o.salt, Encode(o.descriptor)));
    in.openings.push_back(o);
  }
  SignEntry(entry, author);
  in.signed_entry = Encode(entry);
  const SymmetricKey case_key = DeriveCaseKey(archive_key, case_id);
  json chunks = json::object();
  for (size_t i = 0; i < contents.size(); ++i) {
    ChunkedSalt salt;
    RandomBytes(salt.data(), salt.size());
    FileSealer sealer(DeriveFileKey(case_key, in.nonce, static_cast<uint32_t>(i)),
                      contents[i].size(), salt, [&](ByteView c, const Hash& id) {
                        Bytes bytes(c.begin(), c.end());
                        if (tamper && i == 2) bytes[bytes.size() / 2] ^= 0x01;
                        chunks[ToHex(id)] = ToHex(bytes);
                        return Status::Ok();
                      });
    if (!sealer.Update(contents[i]).ok()) return 1;
    in.sealed_files.push_back(Must(sealer.Finish()));
    // A small file's sealed bytes travel in the sealed entry, not as a chunk of their own.
    const SealedFile& f = in.sealed_files.back();
    if (!f.inline_chunk.empty()) chunks.erase(ToHex(f.chunks[0]));
  }
  SealedEntry sealed = Must(SealEntry(archive_key, in));

  json out;
  out["archive_key"] = ToHex(archive_key);
  out["case_id"] = case_id;
  out["prev_case_record"] = ToHex(in.prev_case_record);
  out["author"] = ToHex(author.public_key());
  out["sealed_entry"] = ToHex(Encode(sealed));
  out["chunks"] = chunks;
  out["contents"] = json::array();
  for (const Bytes& c : contents) out["contents"].push_back(ToHex(c));
  out["names"] = names;

  Record record;
  record.origin = Sha256(AsBytes("origin node key"));
  record.index = 41;
  RandomBytes(record.prev_record.data(), record.prev_record.size());
  record.object_id = Sha256(Encode(sealed));
  record.received_at_ms = 1767225601234;
  out["record"] = ToHex(Encode(record));

  // Recovery: three partners hold shares, k = 2; partners 0 and 2 release to a rebuilt node.
  std::vector<RecoveryKey> partner_keys;
  std::vector<ShareRecipient> to;
  for (int i = 0; i < 3; ++i) {
    partner_keys.push_back(RecoveryKey::Generate());
    Hash id = Sha256(AsBytes("partner " + std::to_string(i)));
    to.push_back({id, partner_keys.back().public_key()});
  }
  RecoverySet set = Must(MakeRecoverySet(record.origin, archive_key, 2, to));
  Hash set_id = Sha256(Encode(set));
  RecoveryKey rebuilt = RecoveryKey::Generate();
  out["recovery_set"] = ToHex(Encode(set));
  out["releases"] = json::array();
  for (int i : {0, 2}) {
    SecretShare share = Must(OpenOwnShare(set, record.origin, to[i].node_id, partner_keys[i]));
    ShareRelease release = Must(MakeShareRelease(record.origin, set_id, share,
                                                 {Sha256(AsBytes("rebuilt")), rebuilt.public_key()}));
    out["releases"].push_back(ToHex(Encode(release)));
  }
  out["partner_private_keys"] = json::array();
  for (const RecoveryKey& k : partner_keys) out["partner_private_keys"].push_back(ToHex(k.RawPrivate()));
  out["rebuilt_private_key"] = ToHex(rebuilt.RawPrivate());
  std::cout << out.dump() << "\n";
  return 0;
}
