// Every value passes through these two functions on its way to and from disk, and nowhere
// else: encryption at rest plugs in here without touching any caller. Private to the store.
#pragma once

#include "khronika/schemas/bytes.h"
#include "khronika/store/store.h"

namespace khronika::store_internal {

// The bytes written to LMDB for `plaintext` stored under `key` in `table`.
Bytes SealValue(Table table, ByteView key, ByteView plaintext);
// The plaintext of a stored value; Corruption if it cannot be opened.
Result<Bytes> UnsealValue(Table table, ByteView key, ByteView stored);

}  // namespace khronika::store_internal
