// Test harness for the browser tests: damages the first sealed chunk of one file of a logged
// entry through the store's own API (Store::Update, WriteTxn::Put), as a failing disk would, so
// that the test can show what the console does when the node's copy of a file is no longer the
// file the author signed. The file is named by its sealed entry id (the entry's public handle,
// which the console shows) and its index: format 2 keeps no id derived from plaintext, so the
// sealed chunk is found in the sealed entry's chunk list. Going through the node and its store
// rather than patching data.mdb keeps the damage to one bit of one chunk on an encrypted store
// too. The node is unlocked as every command unlocks it. LMDB allows this while `khronika serve`
// has the store open.
//
// Usage: khronika_corrupt_chunk DATA_DIR ENTRY_ID FILE_INDEX
#include <charconv>
#include <iostream>
#include <string_view>

#include "khronika/log/node.h"
#include "khronika/schemas/sealed_objects.h"

int main(int argc, char** argv) {
  using namespace khronika;
  if (argc != 4) {
    std::cerr << "usage: khronika_corrupt_chunk DATA_DIR ENTRY_ID FILE_INDEX\n";
    return 2;
  }
  auto entry_id = ParseHashHex(argv[2]);
  if (!entry_id.ok()) {
    std::cerr << "ENTRY_ID: " << entry_id.status().ToString() << "\n";
    return 2;
  }
  std::string_view index_text = argv[3];
  size_t file_index = 0;
  auto [end, ec] =
      std::from_chars(index_text.data(), index_text.data() + index_text.size(), file_index);
  if (ec != std::errc() || end != index_text.data() + index_text.size()) {
    std::cerr << "FILE_INDEX: not a number\n";
    return 2;
  }
  auto node = Node::Open(argv[1]);
  if (!node.ok()) {
    std::cerr << "open the node: " << node.status().ToString() << "\n";
    return 1;
  }
  Hash damaged{};
  Status st = (*node)->store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto where, SealedEntryObjectKey(txn, *entry_id));
    if (!where) return Status::NotFound("no entry " + ToHex(*entry_id));
    KH_ASSIGN_OR_RETURN(auto object, txn.Get(Table::kObjects, *where));
    if (!object) return Status::NotFound("no object " + ToHex(*entry_id));
    KH_ASSIGN_OR_RETURN(SealedEntry sealed, DecodeSealedEntry(*object));
    if (file_index >= sealed.files.size() || sealed.files[file_index].chunks.empty()) {
      return Status::NotFound("the entry has no file " + std::to_string(file_index));
    }
    if (!sealed.files[file_index].inline_chunk.empty()) {
      return Status::InvalidArgument("file " + std::to_string(file_index) +
                                     " travels inside its sealed entry: no sealed chunk to damage");
    }
    damaged = sealed.files[file_index].chunks.front();
    KH_ASSIGN_OR_RETURN(auto value, txn.Get(Table::kChunks, damaged));
    if (!value) return Status::NotFound("no chunk " + ToHex(damaged));
    if (value->empty()) return Status::InvalidArgument("the chunk is empty");
    (*value)[value->size() / 2] ^= 0x01;  // same length, one bit changed: only the hash can tell
    return txn.Put(Table::kChunks, damaged, *value);
  });
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::cout << "damaged sealed chunk " << ToHex(damaged) << " of file " << file_index
            << " of entry " << ToHex(*entry_id) << "\n";
  return 0;
}
