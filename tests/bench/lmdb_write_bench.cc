// LMDB's own sequential write rate, the baseline of the local `add` of a large file
// (tests/bench/table.sh, docs/performance.md): TOTAL MiB written as 1 MiB values under random
// 32-byte keys (as a store's chunk ids are) into a fresh environment, PER_TXN values per
// transaction, each commit durable (LMDB's default: data pages, then the meta page, flushed),
// with no encryption, hashing or codec. A benchmark, not a test.
//
//   lmdb_write_bench DIR [TOTAL_MIB=1024] [PER_TXN=8]
//
// DIR must not exist; it is made, and removed at the end. Prints one line of key=value figures:
// bytes written, wall seconds, MB/s (10^6 bytes), transactions.
#include <lmdb.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

[[noreturn]] void Die(const char* what, int rc) {
  std::fprintf(stderr, "lmdb_write_bench: %s: %s\n", what, mdb_strerror(rc));
  std::exit(1);
}

void Check(const char* what, int rc) {
  if (rc != MDB_SUCCESS) Die(what, rc);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: lmdb_write_bench DIR [TOTAL_MIB=1024] [PER_TXN=8]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const long total_mib = argc > 2 ? std::atol(argv[2]) : 1024;
  const long per_txn = argc > 3 ? std::atol(argv[3]) : 8;
  if (total_mib < 1 || total_mib > 65536 || per_txn < 1 || per_txn > 1024) {
    std::fprintf(stderr, "lmdb_write_bench: bad numbers\n");
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::create_directory(dir, ec)) {
    std::fprintf(stderr, "lmdb_write_bench: cannot make %s (it must not exist)\n", dir.c_str());
    return 2;
  }
  constexpr size_t kValue = size_t{1} << 20;
  // 64 distinct random values, reused: LMDB neither compresses nor deduplicates.
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::string> values(64, std::string(kValue, '\0'));
  for (std::string& v : values) {
    for (size_t i = 0; i < v.size(); i += 8) {
      uint64_t r = rng();
      for (size_t j = 0; j < 8; ++j) v[i + j] = static_cast<char>(r >> (8 * j));
    }
  }

  MDB_env* env = nullptr;
  Check("env create", mdb_env_create(&env));
  Check("map size", mdb_env_set_mapsize(env, size_t{64} << 30));
  Check("max dbs", mdb_env_set_maxdbs(env, 1));
  Check("env open", mdb_env_open(env, dir.c_str(), 0, 0600));
  MDB_dbi dbi = 0;
  {
    MDB_txn* txn = nullptr;
    Check("txn", mdb_txn_begin(env, nullptr, 0, &txn));
    Check("dbi", mdb_dbi_open(txn, "chunks", MDB_CREATE, &dbi));
    Check("commit", mdb_txn_commit(txn));
  }
  auto t0 = std::chrono::steady_clock::now();
  long written = 0, txns = 0;
  while (written < total_mib) {
    MDB_txn* txn = nullptr;
    Check("txn", mdb_txn_begin(env, nullptr, 0, &txn));
    for (long i = 0; i < per_txn && written < total_mib; ++i, ++written) {
      uint64_t key[4] = {rng(), rng(), rng(), rng()};
      MDB_val k{sizeof key, key};
      std::string& v = values[static_cast<size_t>(written) % values.size()];
      MDB_val d{v.size(), v.data()};
      Check("put", mdb_put(txn, dbi, &k, &d, 0));
    }
    Check("commit", mdb_txn_commit(txn));
    ++txns;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mdb_env_close(env);
  std::filesystem::remove_all(dir, ec);
  double bytes = static_cast<double>(written) * static_cast<double>(kValue);
  std::printf("bytes=%.0f seconds=%.3f mb_s=%.1f txns=%ld\n", bytes, secs, bytes / 1e6 / secs,
              txns);
  return 0;
}
