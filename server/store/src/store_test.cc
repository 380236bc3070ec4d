#include "khronika/store/store.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <lmdb.h>

#include <fstream>
#include <iterator>

#include "value_codec.h"

namespace khronika {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenStore(StoreOptions options = {}) {
    auto store = Store::Open(dir_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::filesystem::path dir_;
};

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST_F(StoreTest, PutGetAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Update([](WriteTxn& txn) {
      return txn.Put(Table::kAuthors, B("alice"), B("key-1"));
    }).ok());
  }
  auto store = OpenStore();
  Status st = store->View([](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kAuthors, B("alice")));
    EXPECT_TRUE(v.has_value());
    EXPECT_EQ(*v, B("key-1"));
    KH_ASSIGN_OR_RETURN(auto none, txn.Get(Table::kAuthors, B("bob")));
    EXPECT_FALSE(none.has_value());
    KH_ASSIGN_OR_RETURN(auto other_table, txn.Get(Table::kPeers, B("alice")));
    EXPECT_FALSE(other_table.has_value());
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(StoreTest, FailedCallbackAbortsEverything) {
  auto store = OpenStore();
  Status st = store->Update([](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, B("a"), B("1")));
    KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, B("b"), B("2")));
    return Status::InvalidArgument("changed my mind");
  });
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  ASSERT_TRUE(store->View([](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t objects, txn.Count(Table::kObjects));
    KH_ASSIGN_OR_RETURN(uint64_t records, txn.Count(Table::kRecords));
    EXPECT_EQ(objects, 0u);
    EXPECT_EQ(records, 0u);
    return Status::Ok();
  }).ok());
}

TEST_F(StoreTest, PutImmutableRefusesDifferentBytes) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Update([](WriteTxn& txn) {
    return txn.PutImmutable(Table::kObjects, B("id"), B("original"));
  }).ok());
  EXPECT_TRUE(store->Update([](WriteTxn& txn) {
    return txn.PutImmutable(Table::kObjects, B("id"), B("original"));
  }).ok());
  Status st = store->Update([](WriteTxn& txn) {
    return txn.PutImmutable(Table::kObjects, B("id"), B("forged"));
  });
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  // Within one transaction too: the second put sees the first.
  EXPECT_TRUE(store->Update([](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, B("id2"), B("first")));
    KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, B("id2"), B("first")));
    Status again = txn.PutImmutable(Table::kObjects, B("id2"), B("second"));
    EXPECT_EQ(again.code(), Code::kAlreadyExists);
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(store->View([](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kObjects, B("id")));
    EXPECT_EQ(*v, B("original"));
    return Status::Ok();
  }).ok());
}

TEST_F(StoreTest, ScanAndLastRespectPrefixes) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Update([](WriteTxn& txn) -> Status {
    for (std::string k : {"a1", "a2", "a3", "b1", "b2", "c"}) {
      KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, B(k), B("v" + k)));
    }
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(store->View([](ReadTxn& txn) -> Status {
    std::vector<std::string> seen;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, B("a"), [&](ByteView k, ByteView) -> Result<bool> {
      seen.emplace_back(AsChars(k));
      return true;
    }));
    EXPECT_EQ(seen, (std::vector<std::string>{"a1", "a2", "a3"}));
    seen.clear();
    KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, B("a"), [&](ByteView k, ByteView) -> Result<bool> {
      seen.emplace_back(AsChars(k));
      return true;
    }, B("a2")));
    EXPECT_EQ(seen, (std::vector<std::string>{"a2", "a3"}));
    KH_ASSIGN_OR_RETURN(auto last_b, txn.Last(Table::kCaseIndex, B("b")));
    EXPECT_TRUE(last_b.has_value());
    EXPECT_EQ(last_b->first, B("b2"));
    EXPECT_EQ(last_b->second, B("vb2"));
    KH_ASSIGN_OR_RETURN(auto last_c, txn.Last(Table::kCaseIndex, B("c")));
    EXPECT_EQ(last_c->first, B("c"));
    KH_ASSIGN_OR_RETURN(auto none, txn.Last(Table::kCaseIndex, B("d")));
    EXPECT_FALSE(none.has_value());
    KH_ASSIGN_OR_RETURN(auto all, txn.Last(Table::kCaseIndex, {}));
    EXPECT_EQ(all->first, B("c"));
    return Status::Ok();
  }).ok());
}

TEST_F(StoreTest, FullMapIsStoreFullWithNothingHalfWritten) {
  StoreOptions small;
  small.map_size = 1 << 20;  // 1 MiB
  auto store = OpenStore(small);
  ASSERT_TRUE(store->Update([](WriteTxn& txn) {
    return txn.Put(Table::kObjects, B("kept"), B("before"));
  }).ok());
  Bytes big(200 * 1024, 0x5a);
  Status st = store->Update([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < 20; ++i) {
      KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, B("chunk" + std::to_string(i)), big));
    }
    return Status::Ok();
  });
  EXPECT_EQ(st.code(), Code::kStoreFull) << st.ToString();
  EXPECT_NE(st.ToString().find("store full"), std::string::npos);
  ASSERT_TRUE(store->View([](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t chunks, txn.Count(Table::kChunks));
    EXPECT_EQ(chunks, 0u);
    KH_ASSIGN_OR_RETURN(auto kept, txn.Get(Table::kObjects, B("kept")));
    EXPECT_TRUE(kept.has_value());
    return Status::Ok();
  }).ok());
  // Writes resume once there is room again: reopen with a larger map.
  store.reset();
  auto bigger = OpenStore();
  EXPECT_TRUE(bigger->Update([&](WriteTxn& txn) {
    return txn.Put(Table::kChunks, B("chunk0"), big);
  }).ok());
}

TEST_F(StoreTest, ChunksStopShortOfAFullMapSoSmallWritesGoOn) {
  StoreOptions small;
  small.map_size = 2 << 20;  // 2 MiB: 256 KiB are kept for small writes
  auto store = OpenStore(small);
  Bytes chunk(100 * 1024, 0x33);
  int chunks = 0;
  Status st;
  while (st.ok() && chunks < 100) {
    chunk[0] = static_cast<uint8_t>(chunks);
    st = store->Update([&](WriteTxn& txn) {
      return txn.Put(Table::kChunks, B("c" + std::to_string(chunks)), chunk);
    });
    if (st.ok()) ++chunks;
  }
  EXPECT_EQ(st.code(), Code::kStoreFull) << st.ToString();
  EXPECT_NE(st.message().find("map is full"), std::string::npos) << st.ToString();
  EXPECT_GT(chunks, 8);
  // Small writes (access records) still go in, until the map itself is full...
  int records = 0;
  st = Status::Ok();
  while (st.ok() && records < 100000) {
    st = store->Update([&](WriteTxn& txn) -> Status {
      for (int i = 0; i < 50; ++i, ++records) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kAccessLog, B("r" + std::to_string(100000 + records)),
                                   Bytes(150, 0x44)));
      }
      return Status::Ok();
    });
  }
  EXPECT_GT(records, 500);
  EXPECT_EQ(st.code(), Code::kStoreFull) << st.ToString();
  EXPECT_NE(st.message().find("map is full"), std::string::npos) << st.ToString();
  // ...which leaves the store readable and whole.
  Status read = store->View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t n, txn.Count(Table::kChunks));
    EXPECT_EQ(n, static_cast<uint64_t>(chunks));
    KH_ASSIGN_OR_RETURN(uint64_t r, txn.Count(Table::kAccessLog));
    EXPECT_EQ(r % 50, 0u);  // whole transactions or nothing
    EXPECT_GT(r, 500u);
    return Status::Ok();
  });
  EXPECT_TRUE(read.ok()) << read.ToString();
  store.reset();
  auto bigger = OpenStore();
  Status more = bigger->Update([&](WriteTxn& txn) {
    return txn.Put(Table::kChunks, B("more"), chunk);
  });
  EXPECT_TRUE(more.ok()) << more.ToString();
}

TEST_F(StoreTest, ReadOnlyRefusesWritesAndMissingStore) {
  { OpenStore(); }
  StoreOptions ro;
  ro.read_only = true;
  auto store = OpenStore(ro);
  Status st = store->Update([](WriteTxn& txn) { return txn.Put(Table::kMeta, B("k"), B("v")); });
  EXPECT_EQ(st.code(), Code::kPermissionDenied);
  auto missing = Store::Open(dir_ / "nowhere", ro);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST_F(StoreTest, DataFileIsPrivate) {
  { OpenStore(); }
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(StoreTest, LargeValuesSurviveReadsAfterPagesAreReleased) {
  auto store = OpenStore();
  Bytes big(3 * 1024 * 1024);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 31 + 7);
  ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, B("big"), big));
    // Read back inside the write transaction: the value lives in LMDB's dirty buffers here.
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kChunks, B("big")));
    EXPECT_EQ(*v, big);
    return Status::Ok();
  }).ok());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kChunks, B("big")));
      EXPECT_EQ(*v, big) << "round " << round;
      return Status::Ok();
    }).ok());
  }
}

// The file-backed part of this process's resident set, in KiB (RssFile in /proc/self/status).
long RssFileKiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RssFile:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
  }
  return -1;
}

// Deleting a large value reads its first overflow page through the map; where the kernel keeps
// the page cache in large folios, that maps the whole value. Deleting 64 MiB of chunks in one
// transaction, and values read in a write transaction, leave no more than a few MiB mapped.
TEST_F(StoreTest, LargeValuesDeletedOrReadInAWriteTransactionLeaveNoPagesMapped) {
  auto store = OpenStore();
  constexpr int kValues = 64;
  Bytes big(1024 * 1024);
  for (int i = 0; i < kValues; ++i) {
    ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
      big[0] = static_cast<uint8_t>(i);
      return txn.Put(Table::kUploadChunks, B("chunk-" + std::to_string(i)), big);
    }).ok());
  }
  const long before = RssFileKiB();
  ASSERT_GE(before, 0);
  ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < kValues / 2; ++i) {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kUploadChunks, B("chunk-" + std::to_string(i))));
      EXPECT_TRUE(v && v->size() == big.size() && (*v)[0] == i);
    }
    for (int i = 0; i < kValues; ++i) {
      KH_RETURN_IF_ERROR(txn.Delete(Table::kUploadChunks, B("chunk-" + std::to_string(i))));
    }
    return Status::Ok();
  }).ok());
  EXPECT_LT(RssFileKiB() - before, 8 * 1024) << "KiB of the store's file still mapped";
  ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t n, txn.Count(Table::kUploadChunks));
    EXPECT_EQ(n, 0u);
    return Status::Ok();
  }).ok());
}

// ---- encryption at rest ----

std::string FileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Flips one byte of the value stored under `key` in `table`, with LMDB itself and no key: what
// a rotting disk or someone with the file (but not the data key) can do.
void FlipStoredByte(const std::filesystem::path& dir, const char* table, std::string_view key) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 32);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi dbi;
  ASSERT_EQ(mdb_dbi_open(txn, table, 0, &dbi), 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
  ASSERT_EQ(mdb_get(txn, dbi, &k, &v), 0);
  std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
  bytes[bytes.size() / 2] ^= 0x01;
  MDB_val nv{bytes.size(), bytes.data()};
  ASSERT_EQ(mdb_put(txn, dbi, &k, &nv, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

TEST_F(StoreTest, EncryptedStoreKeepsNamesAndValuesOffTheDisk) {
  SymmetricKey key = RandomSymmetricKey();
  Bytes case_key;
  {
    auto store = OpenStore(StoreOptions{.data_key = key});
    ASSERT_TRUE(store->encrypted());
    ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
      case_key = txn.Blind(B("CANARY-case-7f3a"));
      KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, B("entry-1"), B("CANARY-value-91c2")));
      KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, B("node_name"), B("CANARY-name-04be")));
      return txn.Put(Table::kCaseIndex, case_key, B("record"));
    }).ok());
  }
  EXPECT_EQ(case_key.size(), 32u);
  std::string disk = FileBytes(dir_ / "data.mdb");
  ASSERT_GT(disk.size(), 0u);
  EXPECT_EQ(disk.find("CANARY"), std::string::npos);
  EXPECT_NE(disk.find("entry-1"), std::string::npos);  // keys that are ids stay as they are

  auto store = OpenStore(StoreOptions{.data_key = key});
  ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
    EXPECT_EQ(txn.Blind(B("CANARY-case-7f3a")), case_key);  // found again with the same key
    EXPECT_NE(txn.Blind(B("CANARY-case-7f3b")), case_key);
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kObjects, B("entry-1")));
    EXPECT_EQ(*v, B("CANARY-value-91c2"));
    KH_ASSIGN_OR_RETURN(auto n, txn.Get(Table::kMeta, B("node_name")));
    EXPECT_EQ(*n, B("CANARY-name-04be"));
    int seen = 0;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, case_key, [&](ByteView, ByteView value) -> Result<bool> {
      EXPECT_EQ(Bytes(value.begin(), value.end()), B("record"));
      ++seen;
      return true;
    }));
    EXPECT_EQ(seen, 1);
    return Status::Ok();
  }).ok());
}

TEST_F(StoreTest, WrongOrMissingDataKeyIsRefusedAndChangesNothing) {
  SymmetricKey key = RandomSymmetricKey();
  {
    auto store = OpenStore(StoreOptions{.data_key = key});
    ASSERT_TRUE(store->Update([](WriteTxn& txn) { return txn.Put(Table::kChunks, B("c"), B("data")); }).ok());
  }
  std::string before = FileBytes(dir_ / "data.mdb");
  auto wrong = Store::Open(dir_, StoreOptions{.data_key = RandomSymmetricKey()});
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied) << wrong.status().ToString();
  auto none = Store::Open(dir_);
  EXPECT_EQ(none.status().code(), Code::kPermissionDenied) << none.status().ToString();
  EXPECT_NE(none.status().message().find("encrypted"), std::string::npos);
  EXPECT_EQ(FileBytes(dir_ / "data.mdb"), before);

  std::filesystem::path plain_dir = dir_ / "plain";
  ASSERT_TRUE(Store::Open(plain_dir).ok());
  auto keyed = Store::Open(plain_dir, StoreOptions{.data_key = key});
  EXPECT_EQ(keyed.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Store::Open(plain_dir).value()->encrypted());
}

TEST_F(StoreTest, AlteredEncryptedValueIsCorruptionNamingItAndScrubScansGoOn) {
  SymmetricKey key = RandomSymmetricKey();
  {
    auto store = OpenStore(StoreOptions{.data_key = key});
    ASSERT_TRUE(store->Update([](WriteTxn& txn) -> Status {
      KH_RETURN_IF_ERROR(txn.Put(Table::kUploadChunks, B("a"), B("first chunk")));
      KH_RETURN_IF_ERROR(txn.Put(Table::kUploadChunks, B("b"), B("second chunk")));
      return txn.Put(Table::kUploadChunks, B("c"), B("third chunk"));
    }).ok());
  }
  FlipStoredByte(dir_, "upload_chunks", "b");
  auto store = OpenStore(StoreOptions{.data_key = key});
  ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
    auto bad = txn.Get(Table::kUploadChunks, B("b"));
    EXPECT_EQ(bad.status().code(), Code::kCorruption);
    EXPECT_NE(bad.status().message().find("upload_chunks " + ToHex(B("b"))), std::string::npos)
        << bad.status().ToString();
    EXPECT_EQ(*txn.Get(Table::kUploadChunks, B("a")).value(), B("first chunk"));
    // A plain scan stops at the damaged value; a scrub's scan is told and goes on.
    Status plain = txn.Scan(Table::kUploadChunks, {}, [](ByteView, ByteView) -> Result<bool> { return true; });
    EXPECT_EQ(plain.code(), Code::kCorruption);
    std::vector<Bytes> good, unreadable;
    KH_RETURN_IF_ERROR(txn.Scan(
        Table::kUploadChunks, {},
        [&](ByteView k, ByteView) -> Result<bool> {
          good.emplace_back(k.begin(), k.end());
          return true;
        },
        {}, [&](ByteView k) { unreadable.emplace_back(k.begin(), k.end()); }));
    EXPECT_EQ(good, (std::vector<Bytes>{B("a"), B("c")}));
    EXPECT_EQ(unreadable, std::vector<Bytes>{B("b")});
    // A keys-only scan reads no value, so the damaged one does not stop it.
    std::vector<Bytes> keys;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kUploadChunks, {}, [&](ByteView k) -> Result<bool> {
      keys.emplace_back(k.begin(), k.end());
      return true;
    }));
    EXPECT_EQ(keys, (std::vector<Bytes>{B("a"), B("b"), B("c")}));
    return Status::Ok();
  }).ok());
}

TEST_F(StoreTest, SealedChunksAreStoredAsTheyAreAndUploadChunksSealedAtRest) {
  SymmetricKey key = RandomSymmetricKey();
  // What a sealed chunk holds is ciphertext already: the store writes it byte for byte.
  const Bytes sealed_chunk = B("SEALED-chunk-bytes-3b9d");
  const Bytes upload_chunk = B("CANARY-plaintext-upload-66f1");
  {
    auto store = OpenStore(StoreOptions{.data_key = key});
    ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
      KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, B("sealed-id"), sealed_chunk));
      return txn.Put(Table::kUploadChunks, txn.Blind(B("upload-id")), upload_chunk);
    }).ok());
  }
  std::string disk = FileBytes(dir_ / "data.mdb");
  EXPECT_NE(disk.find("SEALED-chunk-bytes-3b9d"), std::string::npos);
  EXPECT_EQ(disk.find("CANARY"), std::string::npos);
  EXPECT_EQ(disk.find("upload-id"), std::string::npos);  // its key is blinded too

  // An altered sealed chunk reads back altered (no tag at rest): its id, the SHA-256 of these
  // bytes, is what readers check. An altered upload chunk fails its tag.
  FlipStoredByte(dir_, "chunks", "sealed-id");
  auto store = OpenStore(StoreOptions{.data_key = key});
  ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto got, txn.Get(Table::kChunks, B("sealed-id")));
    EXPECT_TRUE(got.has_value());
    EXPECT_EQ(got->size(), sealed_chunk.size());
    EXPECT_NE(*got, sealed_chunk);
    KH_ASSIGN_OR_RETURN(auto upload, txn.Get(Table::kUploadChunks, txn.Blind(B("upload-id"))));
    EXPECT_EQ(upload, std::optional<Bytes>(upload_chunk));
    return Status::Ok();
  }).ok());
}

// ---- data key rotation ----

// A store with a value in a plain table, the meta table and two blinded tables, under `key`.
void FillForRotation(const std::filesystem::path& dir, const SymmetricKey& key) {
  auto store = Store::Open(dir, StoreOptions{.data_key = key}).value();
  ASSERT_TRUE(store
                  ->Update([](WriteTxn& txn) -> Status {
                    KH_RETURN_IF_ERROR(
                        txn.Put(Table::kChunks, B("chunk-1"), Bytes(300 * 1024, 0x5a)));  // large
                    KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, B("entry-1"), B("an entry")));
                    KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, B("node_name"), B("ngo")));
                    KH_RETURN_IF_ERROR(
                        txn.Put(Table::kCaseIndex, txn.Blind(B("case-7")), B("record hash")));
                    KH_RETURN_IF_ERROR(txn.Put(Table::kAuthors, txn.Blind(B("alice")), B("Alice")));
                    return txn.Put(Table::kAuthors, txn.Blind(B("gone")),
                                   B("an author no one can name"));
                  })
                  .ok());
}

// Renames what FillForRotation wrote; "gone" is left out when `drop_gone`, else not named.
Store::RenamePlan PlanFor(bool drop_gone) {
  return [drop_gone](const ReadTxn& txn, const std::function<Bytes(ByteView)>& next) {
    Store::KeyRenames r;
    r[Table::kCaseIndex][txn.Blind(B("case-7"))] = next(B("case-7"));
    r[Table::kAuthors][txn.Blind(B("alice"))] = next(B("alice"));
    if (drop_gone) r[Table::kAuthors][txn.Blind(B("gone"))] = std::nullopt;
    return Result<Store::KeyRenames>(std::move(r));
  };
}

// Every value as LMDB stores it (ciphertext), but the clear meta markers.
std::vector<std::string> RawValues(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  MDB_env* env = nullptr;
  EXPECT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 64);
  EXPECT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600), 0);
  MDB_txn* txn = nullptr;
  EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  for (int t = 0; t < kTableCount; ++t) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, TableName(static_cast<Table>(t)), 0, &dbi) != 0) continue;
    MDB_cursor* c = nullptr;
    mdb_cursor_open(txn, dbi, &c);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      ByteView key(static_cast<const uint8_t*>(k.mv_data), k.mv_size);
      if (t == 0 && store_internal::ValueCodec::IsClearMetaKey(key) && AsChars(key) != "key_check")
        continue;
      out.emplace_back(static_cast<const char*>(v.mv_data), v.mv_size);
    }
    mdb_cursor_close(c);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return out;
}

TEST_F(StoreTest, RotatedStoreOpensOnlyWithTheNewKeyAndKeepsEveryValue) {
  SymmetricKey old_key = RandomSymmetricKey(), new_key = RandomSymmetricKey();
  FillForRotation(dir_, old_key);
  const std::vector<std::string> old_ciphertexts = RawValues(dir_);
  ASSERT_EQ(old_ciphertexts.size(), 7u);  // six values and the key check
  {
    auto store = OpenStore(StoreOptions{.data_key = old_key, .exclusive = true});
    auto done = store->RotateDataKey(new_key, PlanFor(/*drop_gone=*/true));
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_EQ(done->values, 5u);  // chunk, entry, node name, case index, alice
    EXPECT_EQ(done->renamed, 2u);
    EXPECT_EQ(done->dropped, 1u);
    // The same Store goes on with the new key.
    ASSERT_TRUE(store
                    ->Update([](WriteTxn& txn) {
                      return txn.Put(Table::kObjects, B("entry-2"), B("later"));
                    })
                    .ok());
  }
  auto refused = Store::Open(dir_, StoreOptions{.data_key = old_key});
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied) << refused.status().ToString();

  auto store = OpenStore(StoreOptions{.data_key = new_key});
  ASSERT_TRUE(store
                  ->View([&](ReadTxn& txn) -> Status {
                    EXPECT_EQ(*txn.Get(Table::kChunks, B("chunk-1")).value(),
                              Bytes(300 * 1024, 0x5a));
                    EXPECT_EQ(*txn.Get(Table::kObjects, B("entry-1")).value(), B("an entry"));
                    EXPECT_EQ(*txn.Get(Table::kObjects, B("entry-2")).value(), B("later"));
                    EXPECT_EQ(*txn.Get(Table::kMeta, B("node_name")).value(), B("ngo"));
                    EXPECT_EQ(*txn.Get(Table::kCaseIndex, txn.Blind(B("case-7"))).value(),
                              B("record hash"));
                    EXPECT_EQ(*txn.Get(Table::kAuthors, txn.Blind(B("alice"))).value(), B("Alice"));
                    EXPECT_EQ(txn.Count(Table::kAuthors).value(), 1u);
                    return Status::Ok();
                  })
                  .ok());
  // Every stored value (but the three clear markers) opens with the new key, none with the old.
  store_internal::ValueCodec old_codec(old_key), new_codec(new_key);
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 64);
  ASSERT_EQ(mdb_env_open(env, dir_.c_str(), MDB_RDONLY, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  int checked = 0;
  for (int t = 0; t < kTableCount; ++t) {
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, TableName(static_cast<Table>(t)), 0, &dbi), 0);
    MDB_cursor* c = nullptr;
    ASSERT_EQ(mdb_cursor_open(txn, dbi, &c), 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      ByteView key(static_cast<const uint8_t*>(k.mv_data), k.mv_size);
      ByteView value(static_cast<const uint8_t*>(v.mv_data), v.mv_size);
      if (t == 0 && store_internal::ValueCodec::IsClearMetaKey(key)) continue;
      if (static_cast<Table>(t) == Table::kChunks) {
        // Sealed chunks are stored as they are, under no data key: the rotation copies them.
        EXPECT_EQ(Bytes(value.begin(), value.end()), Bytes(300 * 1024, 0x5a));
        continue;
      }
      EXPECT_TRUE(new_codec.Open(static_cast<Table>(t), key, value).ok())
          << TableName(static_cast<Table>(t));
      EXPECT_FALSE(old_codec.Open(static_cast<Table>(t), key, value).ok())
          << TableName(static_cast<Table>(t));
      ++checked;
    }
    mdb_cursor_close(c);
  }
  EXPECT_EQ(checked, 5);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  // No byte of a value sealed under the old key is left anywhere in the file (LMDB's free pages
  // included), and no copy beside it.
  const std::string file = FileBytes(dir_ / "data.mdb");
  for (const std::string& c : old_ciphertexts) {
    if (c == std::string(300 * 1024, 0x5a)) continue;  // the sealed chunk, not under the key
    EXPECT_EQ(file.find(c.substr(0, 28)), std::string::npos)
        << "an old value of " << c.size() << " bytes";
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data.mdb.rotating"));
}

TEST_F(StoreTest, RotationNeedsTheStoreToItselfAndEveryKeyPlanned) {
  SymmetricKey old_key = RandomSymmetricKey();
  FillForRotation(dir_, old_key);
  {
    // Not opened exclusively: refused.
    auto shared = OpenStore(StoreOptions{.data_key = old_key});
    EXPECT_EQ(shared->RotateDataKey(RandomSymmetricKey(), PlanFor(true)).status().code(),
              Code::kInvalidArgument);
    // Open elsewhere (here, another Store of this process): an exclusive open is refused.
    auto exclusive = Store::Open(dir_, StoreOptions{.data_key = old_key, .exclusive = true});
    EXPECT_EQ(exclusive.status().code(), Code::kIOError);
    EXPECT_NE(exclusive.status().message().find("open in another process"), std::string::npos)
        << exclusive.status().ToString();
  }
  std::string before = FileBytes(dir_ / "data.mdb");
  {
    auto exclusive = OpenStore(StoreOptions{.data_key = old_key, .exclusive = true});
    // While it is held, no one else opens the store, not even to read.
    auto reader = Store::Open(dir_, StoreOptions{.read_only = true, .data_key = old_key});
    EXPECT_EQ(reader.status().code(), Code::kIOError);
    EXPECT_NE(reader.status().message().find("re-encrypted"), std::string::npos)
        << reader.status().ToString();
    // A key the plan does not name, a failing last step: refused, nothing written.
    auto unplanned = exclusive->RotateDataKey(RandomSymmetricKey(), PlanFor(false));
    EXPECT_EQ(unplanned.status().code(), Code::kCorruption);
    EXPECT_NE(unplanned.status().message().find("authors"), std::string::npos)
        << unplanned.status().ToString();
    auto stopped = exclusive->RotateDataKey(RandomSymmetricKey(), PlanFor(true), [] {
      return Status::IOError("stopped before the commit");
    });
    EXPECT_EQ(stopped.status().code(), Code::kIOError);
    // The Store still reads with the old key.
    ASSERT_TRUE(exclusive
                    ->View([](ReadTxn& txn) -> Status {
                      EXPECT_EQ(*txn.Get(Table::kObjects, B("entry-1")).value(), B("an entry"));
                      return Status::Ok();
                    })
                    .ok());
  }
  EXPECT_EQ(FileBytes(dir_ / "data.mdb"), before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data.mdb.rotating"));
  EXPECT_TRUE(Store::Open(dir_, StoreOptions{.data_key = old_key}).ok());
  // A copy left by a process that died before its rename: the next open removes it.
  std::ofstream(dir_ / "data.mdb.rotating") << "half a copy";
  std::ofstream(dir_ / "data.mdb.rotating-lock") << "its lock";
  EXPECT_TRUE(Store::Open(dir_, StoreOptions{.data_key = old_key}).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data.mdb.rotating"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data.mdb.rotating-lock"));

  // A damaged value stops the rotation, naming it.
  FlipStoredByte(dir_, "objects", "entry-1");
  before = FileBytes(dir_ / "data.mdb");
  {
    auto exclusive = OpenStore(StoreOptions{.data_key = old_key, .exclusive = true});
    auto damaged = exclusive->RotateDataKey(RandomSymmetricKey(), PlanFor(true));
    EXPECT_EQ(damaged.status().code(), Code::kCorruption);
    EXPECT_NE(damaged.status().message().find("objects " + ToHex(B("entry-1"))), std::string::npos)
        << damaged.status().ToString();
  }
  EXPECT_EQ(FileBytes(dir_ / "data.mdb"), before);
}

TEST_F(StoreTest, AStoreInClearHasNoDataKeyToRotate) {
  auto store = OpenStore(StoreOptions{.exclusive = true});
  EXPECT_EQ(store->RotateDataKey(RandomSymmetricKey(), PlanFor(true)).status().code(),
            Code::kInvalidArgument);
}

TEST(ValueCodecTest, ValuesAreBoundToTheirTableAndKey) {
  store_internal::ValueCodec codec(RandomSymmetricKey());
  Bytes sealed = codec.Seal(Table::kObjects, B("k1"), B("value"));
  EXPECT_EQ(sealed.size(), 5 + kAeadOverhead);
  EXPECT_EQ(codec.Open(Table::kObjects, B("k1"), sealed).value(), B("value"));
  EXPECT_EQ(codec.Open(Table::kObjects, B("k2"), sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(codec.Open(Table::kUploadChunks, B("k1"), sealed).status().code(), Code::kCorruption);
  store_internal::ValueCodec other(RandomSymmetricKey());
  EXPECT_FALSE(other.Open(Table::kObjects, B("k1"), sealed).ok());
  EXPECT_NE(other.Blind(B("case")), codec.Blind(B("case")));
  // The markers read before the key is known stay in clear; nothing else does.
  EXPECT_EQ(codec.Seal(Table::kMeta, B("store_format"), B("f")), B("f"));
  EXPECT_NE(codec.Seal(Table::kMeta, B("node_name"), B("n")), B("n"));
  // Sealed chunks are ciphertext already and pass through; plaintext upload chunks do not.
  EXPECT_EQ(codec.Seal(Table::kChunks, B("id"), B("sealed")), B("sealed"));
  EXPECT_EQ(codec.Open(Table::kChunks, B("id"), B("sealed")).value(), B("sealed"));
  EXPECT_NE(codec.Seal(Table::kUploadChunks, B("id"), B("plain")), B("plain"));

  store_internal::ValueCodec clear;
  EXPECT_EQ(clear.Seal(Table::kObjects, B("k1"), B("value")), B("value"));
  EXPECT_EQ(clear.Blind(B("case")), B("case"));

  // SealInto (the store's writes, into the space LMDB reserves) gives what Open reads, bound to
  // the same table and key; a key longer than LMDB takes is still bound, not refused here.
  for (size_t key_size : {1, 40, 511, 600}) {
    const Bytes key(key_size, 0x6b);
    Bytes into(5 + kAeadOverhead);
    codec.SealInto(Table::kRecords, key, B("value"), into);
    EXPECT_EQ(codec.Open(Table::kRecords, key, into).value(), B("value")) << key_size;
    Bytes other_key = key;
    other_key.back() ^= 1;
    EXPECT_FALSE(codec.Open(Table::kRecords, other_key, into).ok()) << key_size;
  }
}

// Values written through the store (sealed into LMDB's reserved space) read back, in clear and
// encrypted; a key LMDB cannot take is an error, not a crash, and writes nothing.
TEST_F(StoreTest, WritesOfEveryKindReadBackAndAnOverlongKeyIsRefused) {
  for (bool encrypted : {false, true}) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = encrypted ? OpenStore(StoreOptions{.data_key = RandomSymmetricKey()}) : OpenStore();
    const Bytes big(3000, 0x42);
    ASSERT_TRUE(store->Update([&](WriteTxn& txn) -> Status {
      KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, B("small"), B("v")));
      KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, B("empty"), {}));
      KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, B("big"), big));
      return txn.PutImmutable(Table::kObjects, B("big"), big);  // the same bytes: accepted
    }).ok());
    Status refused = store->Update([&](WriteTxn& txn) -> Status {
      KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, B("later"), B("x")));
      return txn.Put(Table::kRecords, Bytes(600, 0x6b), B("x"));
    });
    EXPECT_FALSE(refused.ok());
    ASSERT_TRUE(store->View([&](ReadTxn& txn) -> Status {
      EXPECT_EQ(*txn.Get(Table::kRecords, B("small")).value(), B("v"));
      EXPECT_EQ(*txn.Get(Table::kRecords, B("empty")).value(), Bytes());
      EXPECT_EQ(*txn.Get(Table::kObjects, B("big")).value(), big);
      EXPECT_FALSE(txn.Get(Table::kRecords, B("later")).value().has_value());
      auto overlong = txn.Get(Table::kRecords, Bytes(600, 0x6b));
      EXPECT_FALSE(overlong.ok() && overlong->has_value());
      return Status::Ok();
    }).ok());
  }
}

}  // namespace
}  // namespace khronika
