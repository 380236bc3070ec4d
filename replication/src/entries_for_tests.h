// For the replication tests: format 2 submissions to a node's own log, as `add` makes them
// (plaintext upload chunks stored for the local uploader "", the entry signed by its author
// over each file's salted commitment).
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/sealing.h"

namespace khronika {

struct TestFile {
  std::string name;
  std::string content;
};

// Stores `content` as the node's own upload chunks and returns the file's part of a submission.
inline Result<SubmittedFile> UploadTestFile(Node& node, const TestFile& file) {
  SubmittedFile f;
  f.opening.descriptor = {file.name, GuessMediaType(file.name), file.content.size(),
                          Sha256(file.content)};
  RandomBytes(f.opening.salt.data(), f.opening.salt.size());
  KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) -> Status {
    for (size_t off = 0; off < file.content.size(); off += kChunkSize) {
      auto piece = AsBytes(file.content)
                       .subspan(off, std::min(kChunkSize, file.content.size() - off));
      KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", piece));
      f.upload_chunks.push_back(id);
    }
    return Status::Ok();
  }));
  return f;
}

// A signed submission of `files` in `case_id`, its upload chunks stored on `node`.
inline Result<Submission> MakeTestSubmission(Node& node, const SigningKey& author,
                                             const std::string& case_id,
                                             const std::vector<TestFile>& files,
                                             std::map<std::string, std::string> metadata = {},
                                             const std::string& kind = "evidence") {
  Submission s;
  s.entry.case_id = case_id;
  s.entry.author = author.public_key();
  s.entry.kind = kind;
  s.entry.created_at_ms = 1767225600000;
  s.entry.metadata = std::move(metadata);
  for (const TestFile& file : files) {
    KH_ASSIGN_OR_RETURN(SubmittedFile f, UploadTestFile(node, file));
    s.entry.files.push_back(FileCommitment(f.opening.salt, Encode(f.opening.descriptor)));
    s.files.push_back(std::move(f));
  }
  SignEntry(s.entry, author);
  return s;
}

// How many sealed chunks a file of `size` bytes is sealed into.
inline uint64_t SealedChunksOf(uint64_t size) { return SealedChunkCount(SealedFileSize(size)); }

}  // namespace khronika
