// Test harness for the browser tests: damages one stored chunk of a node through the store's own
// API (Store::Update, WriteTxn::Put), as a failing disk would, so that the test can show what the
// console does when the node's copy of a file is no longer the file the author signed. It goes
// through the node and its store rather than patching data.mdb so that it works on an encrypted
// store too (a patched byte there is only an authentication failure): the damaged value is
// sealed as the node seals everything, and only the chunk's hash can tell. The node is unlocked
// as every command unlocks it (an encrypted node's key file is found where it was when sealed).
// LMDB allows this while `khronika serve` has the store open.
//
// Usage: khronika_corrupt_chunk DATA_DIR CHUNK_ID
#include <iostream>

#include "khronika/log/node.h"

int main(int argc, char** argv) {
  using namespace khronika;
  if (argc != 3) {
    std::cerr << "usage: khronika_corrupt_chunk DATA_DIR CHUNK_ID\n";
    return 2;
  }
  auto id = ParseHashHex(argv[2]);
  if (!id.ok()) {
    std::cerr << "CHUNK_ID: " << id.status().ToString() << "\n";
    return 2;
  }
  auto node = Node::Open(argv[1]);
  if (!node.ok()) {
    std::cerr << "open the node: " << node.status().ToString() << "\n";
    return 1;
  }
  Status st = (*node)->store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto value, txn.Get(Table::kChunks, *id));
    if (!value) return Status::NotFound("no chunk " + ToHex(*id));
    if (value->empty()) return Status::InvalidArgument("the chunk is empty");
    (*value)[0] ^= 0x01;  // same length, one bit changed: only the hash can tell
    return txn.Put(Table::kChunks, *id, *value);
  });
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::cout << "damaged chunk " << ToHex(*id) << "\n";
  return 0;
}
