// A data-key rotation (Node::RotateDataKey) gives every blinded index key a new form. Blind is
// one-way, so the names behind the keys are found again in what the store holds: case ids and
// signed entries in this origin's sealed entries (opened with the archive key, which the
// rotation does not change; an adopted log's too), author keys in the authors' records (or, for a record an older
// khronika wrote, among the entries' authors), upload chunks from the token ids and the chunks'
// own hashes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/store/store.h"

namespace khronika {

// Store::RenamePlan's work for the tables of the log and the API (docs/format.md, "Data key
// rotation"). `uploaders` are the ids of every token (the upload_chunks table's keys name them;
// the operator's own `add` is the empty uploader, always tried); `archive_key` opens this
// node's own entries and those of the logs it adopted (OpenableOrigins). Every key of case_index, signed_entries and authors must be found, or the
// rotation stops with an error that says what to do (an author an older khronika registered
// and no entry names: `author add` it again). An upload chunk whose token is not found is left
// out (it could never be used: the token is gone).
Result<Store::KeyRenames> PlanBlindedKeys(const ReadTxn& txn,
                                          const std::function<Bytes(ByteView name)>& blind_next,
                                          const std::vector<std::string>& uploaders,
                                          const SymmetricKey& archive_key);

}  // namespace khronika
