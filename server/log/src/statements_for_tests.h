// A signed one-file submission for the log's tests: the plaintext stored as an upload chunk of
// the operator's own (uploader ""), as `khronika add` does, and an entry v2 committing to it.
#pragma once

#include <string>

#include "khronika/log/log.h"

namespace khronika::testing {

// Returns a submission whose upload chunk is already in `store`; `content` must fit one chunk.
inline Result<Submission> StatementSubmission(Store& store, const std::string& case_id,
                                              const std::string& content,
                                              const SigningKey& author,
                                              const std::string& name = "statement.txt") {
  SubmittedFile f;
  f.opening.descriptor = {name, "text/plain", content.size(), Sha256(content)};
  RandomBytes(f.opening.salt.data(), f.opening.salt.size());
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", AsBytes(content)));
    f.upload_chunks.push_back(id);
    return Status::Ok();
  }));
  Submission s;
  s.entry.case_id = case_id;
  s.entry.kind = "evidence";
  s.entry.created_at_ms = 1767225600000;  // 2026-01-01
  s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
  SignEntry(s.entry, author);
  s.files = {std::move(f)};
  return s;
}

}  // namespace khronika::testing
