#include "khronika/store/store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "khronika/store/files.h"
#include "lmdb_handles.h"
#include "value_codec.h"

namespace khronika {
namespace {

constexpr const char* kTableNames[kTableCount] = {
    "meta",   "chunks",    "objects", "records", "tree",  "case_index", "entry_index",
    "checkpoints", "cosignatures", "origins", "peers", "authors", "tokens", "access_log",
    "conflicts", "upload_chunks", "signed_entries", "timestamps",
    "external_cosignatures"};

constexpr std::string_view kStoreFormatKey = "store_format";
constexpr std::string_view kStoreFormat = "khronika-store-3";
// Present (in clear) in encrypted stores: the cipher, and a known value sealed under the data
// key, so that a wrong key is refused when the store opens rather than at the first read.
constexpr std::string_view kEncryptionKey = "encryption";
constexpr std::string_view kEncryption = "aes-256-gcm";
constexpr std::string_view kKeyCheckKey = "key_check";
constexpr std::string_view kKeyCheckPlain = "khronika data key check";

MDB_val ToVal(ByteView b) {
  return MDB_val{b.size(), const_cast<uint8_t*>(b.data())};
}
ByteView FromVal(const MDB_val& v) { return {static_cast<const uint8_t*>(v.mv_data), v.mv_size}; }

// Large values (file chunks) are read once and copied out. LMDB reads them through its shared
// read-only file mapping, and every page touched stays counted in the process's resident set, so
// streaming a 2 GiB file would show 2 GiB of RSS. Dropping the mapping of those pages after the
// copy keeps memory flat; the data stays in the page cache and a later read simply faults it in.
constexpr size_t kReleaseThreshold = 256 * 1024;
// Chunk bytes committed between two releases of the whole map (Store::Update).
constexpr uint64_t kReleaseAfterChunkBytes = 1 << 20;

void ReleaseMappedPages(const MDB_val& v) {
  if (v.mv_size < kReleaseThreshold) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(v.mv_data) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(v.mv_data) + v.mv_size + page - 1) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Drops every page of this process's mappings of the file `data` (LMDB's map of data.mdb),
// found in /proc/self/maps by device and inode. Safe at any time: the mappings are shared and
// read-only, so a reader in another thread simply faults its page in again.
void ReleaseWholeMap(const std::filesystem::path& data) {
  struct stat st;
  if (::stat(data.c_str(), &st) != 0) return;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    unsigned long lo = 0, hi = 0, inode = 0;
    unsigned dev_major = 0, dev_minor = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &dev_major, &dev_minor,
                    &inode) == 5 &&
        inode == st.st_ino && dev_major == major(st.st_dev) && dev_minor == minor(st.st_dev)) {
      ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }
  }
}

// True if the file system holding `dir` has (next to) no space left.
bool FileSystemFull(const std::filesystem::path& dir) {
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) return false;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (uint64_t{1} << 20);
}

// New chunk bytes must leave the last stretch of the map and of the file system free: reads of
// evidence are put on record (the access log) before the first byte leaves, so without room
// for those small writes, reads would start failing a few hundred requests after uploads had
// filled the store. Entries, tokens and other small writes may use the reserve.
uint64_t Reserve(uint64_t total) {
  return std::clamp<uint64_t>(total / 64, uint64_t{256} << 10, uint64_t{64} << 20);
}

// Chunk bytes put by the write transaction of this thread (a WriteTxn belongs to one thread).
thread_local uint64_t t_chunk_bytes = 0;
// Whether that transaction deleted a large value.
thread_local bool t_deleted_large = false;

// Counts a chunk written by this thread's transaction, for the room check and the map release.
void CountChunkBytes(Table table, size_t bytes) {
  if (table == Table::kChunks || table == Table::kUploadChunks) t_chunk_bytes += bytes;
}

bool HasPrefix(ByteView key, ByteView prefix) {
  return key.size() >= prefix.size() &&
         (prefix.empty() || std::memcmp(key.data(), prefix.data(), prefix.size()) == 0);
}

}  // namespace

const char* TableName(Table table) { return kTableNames[static_cast<int>(table)]; }

bool KeysAreBlinded(Table table) {
  return table == Table::kCaseIndex || table == Table::kAuthors ||
         table == Table::kUploadChunks || table == Table::kSignedEntries;
}

struct Store::Impl {
  // Declared first so that it is released last, after the environment has closed.
  std::optional<UniqueFd> dir_lock;
  bool exclusive = false;
  lmdb::Env env;
  std::array<MDB_dbi, kTableCount> dbis{};
  bool read_only = false;
  uint64_t map_size = 0;
  std::filesystem::path dir;
  std::unique_ptr<store_internal::ValueCodec> codec = std::make_unique<store_internal::ValueCodec>();
  MDB_dbi dbi(Table t) const { return dbis[static_cast<int>(t)]; }
  // Chunk bytes committed since the map was last released (one writer at a time, but Update
  // runs on many threads in turn).
  std::atomic<uint64_t> chunk_bytes_since_release{0};
  uint64_t ChunkBytesSinceRelease(uint64_t more) {
    return chunk_bytes_since_release.fetch_add(more) + more;
  }
  void ResetChunkBytesSinceRelease() { chunk_bytes_since_release = 0; }

  // StoreFull unless `bytes` more of chunks leave the reserve free in the map and on disk.
  Status RoomForChunks(uint64_t bytes) const {
    MDB_envinfo info;
    MDB_stat stat;
    mdb_env_info(env.get(), &info);
    mdb_env_stat(env.get(), &stat);
    uint64_t used = static_cast<uint64_t>(info.me_last_pgno + 1) * stat.ms_psize;
    uint64_t map = info.me_mapsize, reserve = Reserve(map);
    if (used + bytes + reserve > map) {
      return Status::StoreFull("chunks: the LMDB map is full (" + std::to_string(used) + " of " +
                               std::to_string(map) + " bytes used, the last " +
                               std::to_string(reserve) +
                               " kept for access records); raise --map-size");
    }
    struct statvfs fs;
    if (::statvfs(dir.c_str(), &fs) == 0) {
      uint64_t avail = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
      uint64_t disk_reserve = Reserve(static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize);
      if (avail < bytes + disk_reserve) {
        return Status::StoreFull("chunks: no space left on the file system (" +
                                 std::to_string(avail) + " bytes free, the last " +
                                 std::to_string(disk_reserve) + " kept for access records)");
      }
    }
    return Status::Ok();
  }

  // Another process (a local command, which maps 64 GiB unless given --map-size) may commit
  // data beyond this process's map when this one was opened with a smaller --map-size; LMDB
  // then refuses every transaction here with MDB_MAP_RESIZED. The map is then re-mapped to
  // cover the data (and no more: this process's own limit stays), which LMDB allows only while
  // no transaction of this process is open. So transactions are counted, and a re-map waits a
  // moment for them to end (and holds new ones back meanwhile).
  std::mutex mu;
  std::condition_variable cv;
  int open_txns = 0;
  bool remapping = false;
  static constexpr std::chrono::seconds kRemapWait{2};

  void Enter() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, kRemapWait, [&] { return !remapping; });
    ++open_txns;
  }
  void Leave() {
    std::lock_guard lock(mu);
    if (--open_txns == 0 && remapping) cv.notify_all();
  }
  struct Counted {
    explicit Counted(Impl* i) : impl(i) { impl->Enter(); }
    ~Counted() { impl->Leave(); }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    Impl* impl;
  };

  bool MapOutgrown() const {
    MDB_envinfo info;
    MDB_stat stat;
    mdb_env_info(env.get(), &info);
    mdb_env_stat(env.get(), &stat);
    return static_cast<uint64_t>(info.me_last_pgno + 1) * stat.ms_psize > info.me_mapsize;
  }

  // Begins a transaction that the caller has already counted (Counted).
  Result<lmdb::Txn> Begin(bool read_only) {
    Result<lmdb::Txn> txn = lmdb::Txn::Begin(env.get(), read_only);
    if (txn.ok() || !MapOutgrown()) return txn;
    Leave();
    {
      std::unique_lock lock(mu);
      if (!remapping) {
        remapping = true;
        // Gives up (and the transaction fails as before) if one stays open, for instance an
        // outer transaction of this very thread.
        if (cv.wait_for(lock, kRemapWait, [&] { return open_txns == 0; })) {
          mdb_env_set_mapsize(env.get(), map_size);  // LMDB raises it to what the data needs
        }
        remapping = false;
        cv.notify_all();
      }
    }
    Enter();
    return lmdb::Txn::Begin(env.get(), read_only);
  }
};

namespace {

// Sets up the value codec: on a new store, records whether it is encrypted; on an existing one,
// checks that the key given (or its absence) is the one the store was made with.
Status OpenEncryption(MDB_txn* txn, Store::Impl& impl, bool created, const StoreOptions& options,
                      const std::filesystem::path& dir) {
  MDB_dbi meta = impl.dbi(Table::kMeta);
  MDB_val key = ToVal(AsBytes(kEncryptionKey)), val;
  if (created) {
    if (!options.data_key) return Status::Ok();
    Bytes check = AeadSeal(*options.data_key, AsBytes(kKeyCheckPlain), AsBytes(kKeyCheckKey));
    MDB_val cipher = ToVal(AsBytes(kEncryption)), check_val = ToVal(check);
    MDB_val check_key = ToVal(AsBytes(kKeyCheckKey));
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_put(txn, meta, &key, &cipher, 0), "write encryption"));
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_put(txn, meta, &check_key, &check_val, 0), "write key check"));
    impl.codec = std::make_unique<store_internal::ValueCodec>(*options.data_key);
    return Status::Ok();
  }
  int rc = mdb_get(txn, meta, &key, &val);
  if (rc == MDB_NOTFOUND) {
    if (options.data_key) {
      return Status::InvalidArgument("the store in " + dir.string() +
                                     " is not encrypted, but a data key was given");
    }
    return Status::Ok();
  }
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, "read encryption");
  if (AsChars(FromVal(val)) != kEncryption) {
    return Status::Corruption("unknown store encryption '" + std::string(AsChars(FromVal(val))) + "'");
  }
  if (!options.data_key) {
    return Status::PermissionDenied("the store in " + dir.string() +
                                    " is encrypted: it opens only with the node's data key");
  }
  MDB_val check_key = ToVal(AsBytes(kKeyCheckKey)), check;
  rc = mdb_get(txn, meta, &check_key, &check);
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, "read key check");
  auto opened = AeadOpen(*options.data_key, FromVal(check), AsBytes(kKeyCheckKey));
  if (!opened.ok() || AsChars(*opened) != kKeyCheckPlain) {
    return Status::PermissionDenied("the data key given does not open the store in " + dir.string());
  }
  impl.codec = std::make_unique<store_internal::ValueCodec>(*options.data_key);
  return Status::Ok();
}

// Takes the lock on the store's directory that says who has it open (StoreOptions::exclusive).
// A lock of flock(2), not of fcntl(2): LMDB's own locks on lock.mdb are fcntl locks, which a
// process loses when it closes any descriptor of that file, so nothing here touches lock.mdb.
Status LockDirectory(const std::filesystem::path& dir, bool exclusive, Store::Impl& impl) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + dir.string());
  impl.dir_lock.emplace(fd);
  int rc;
  do {
    rc = ::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    impl.exclusive = exclusive;
    return Status::Ok();
  }
  if (!exclusive && (errno == ENOLCK || errno == EOPNOTSUPP || errno == ENOSYS)) {
    return Status::Ok();  // a file system without flock: opens as before, but never rotates
  }
  if (errno != EWOULDBLOCK) return ErrnoStatus("lock " + dir.string());
  if (exclusive) {
    return Status::IOError("the store in " + dir.string() +
                           " is open in another process (`khronika serve`, or another command): "
                           "stop it first");
  }
  return Status::IOError("the store in " + dir.string() +
                         " is being re-encrypted under a new data key: try again when that has "
                         "finished");
}

// Where a rotation writes the re-encrypted copy of the store (with MDB_NOSUBDIR, LMDB's lock
// file is this name and "-lock"), renamed over data.mdb when it is complete.
constexpr const char* kRotatingFile = "data.mdb.rotating";

// A copy left by a rotation that did not reach its rename: the store is still the old one.
// Removed by whoever opens the store next (a rotation holds the store exclusively while it
// writes one, so no open can see one being written).
void RemoveUnfinishedRotation(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove(dir / kRotatingFile, ec);
  std::filesystem::remove(dir / (std::string(kRotatingFile) + "-lock"), ec);
}

// Creates and opens the LMDB environment of impl.dir.
Status OpenEnvironment(Store::Impl& impl, uint64_t map_size) {
  MDB_env* raw = nullptr;
  KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_create(&raw), "create environment"));
  impl.env = lmdb::Env(raw);
  KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_set_maxdbs(raw, kTableCount + 2), "set max dbs"));
  KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_set_mapsize(raw, map_size), "set map size"));
  // MDB_NOTLS: read transactions are not tied to thread-local reader slots, so a server may
  // run them on any pool thread. No flag here weakens durability.
  unsigned flags = MDB_NOTLS | (impl.read_only ? MDB_RDONLY : 0);
  int rc = mdb_env_open(raw, impl.dir.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, ("open store " + impl.dir.string()).c_str());
  int dead = 0;
  KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_reader_check(raw, &dead), "clear stale readers"));
  MDB_envinfo info;
  mdb_env_info(raw, &info);
  impl.map_size = info.me_mapsize;
  return Status::Ok();
}

// Opens every table (creating it in a store opened read-write).
Status OpenTables(MDB_txn* txn, Store::Impl& impl) {
  for (int i = 0; i < kTableCount; ++i) {
    int rc = mdb_dbi_open(txn, kTableNames[i], impl.read_only ? 0 : MDB_CREATE, &impl.dbis[i]);
    if (rc != MDB_SUCCESS) {
      return lmdb::ToStatus(rc, (std::string("open table ") + kTableNames[i]).c_str());
    }
  }
  return Status::Ok();
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& dir,
                                           const StoreOptions& options) {
  if (!options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  } else if (!std::filesystem::exists(dir / "data.mdb")) {
    return Status::NotFound("no store at " + dir.string());
  }
  auto impl = std::make_unique<Impl>();
  impl->read_only = options.read_only;
  impl->dir = dir;
  KH_RETURN_IF_ERROR(LockDirectory(dir, options.exclusive, *impl));
  RemoveUnfinishedRotation(dir);
  KH_RETURN_IF_ERROR(OpenEnvironment(*impl, options.map_size));
  MDB_env* raw = impl->env.get();
  KH_ASSIGN_OR_RETURN(lmdb::Txn txn, lmdb::Txn::Begin(raw, options.read_only));
  KH_RETURN_IF_ERROR(OpenTables(txn.get(), *impl));
  MDB_val key = ToVal(AsBytes(kStoreFormatKey)), val;
  int rc = mdb_get(txn.get(), impl->dbis[0], &key, &val);
  if (rc == MDB_NOTFOUND && !options.read_only) {
    MDB_val format = ToVal(AsBytes(kStoreFormat));
    KH_RETURN_IF_ERROR(
        lmdb::ToStatus(mdb_put(txn.get(), impl->dbis[0], &key, &format, 0), "write format"));
  } else if (rc != MDB_SUCCESS) {
    return lmdb::ToStatus(rc, "read store format");
  } else if (AsChars(FromVal(val)) != kStoreFormat) {
    return Status::Corruption("store format is '" + std::string(AsChars(FromVal(val))) +
                              "', expected '" + std::string(kStoreFormat) + "'");
  }
  KH_RETURN_IF_ERROR(OpenEncryption(txn.get(), *impl, rc == MDB_NOTFOUND, options, dir));
  KH_RETURN_IF_ERROR(txn.Commit());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::Update(const std::function<Status(WriteTxn&)>& fn) {
  if (impl_->read_only) return Status::PermissionDenied("store opened read-only");
  Impl::Counted counted(impl_.get());
  KH_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->Begin(false));
  WriteTxn w(impl_.get(), txn.get());
  t_chunk_bytes = 0;
  t_deleted_large = false;
  KH_RETURN_IF_ERROR(fn(w));
  if (t_chunk_bytes > 0) KH_RETURN_IF_ERROR(impl_->RoomForChunks(t_chunk_bytes));
  Status st = txn.Commit();
  // Writing or deleting chunks makes LMDB read B-tree and overflow pages through its map, each
  // transaction at new places (copy on write), and every read fault maps the pages around it as
  // well (the kernel's fault-around): streaming a 2 GiB file in and sealing it left 90 MiB of
  // the file mapped, deleting its upload chunks in one transaction far more. Nothing here
  // needs those pages mapped: they stay in the page cache, and a later read faults them in.
  // Small transactions (a statement's sealed chunk) map little each: the map is released once
  // chunk writes since the last release reach kReleaseAfterChunkBytes, not after every one, since
  // each release also drops the B-tree pages the next transactions read (faulted in again).
  if (st.ok() && (t_deleted_large || impl_->ChunkBytesSinceRelease(t_chunk_bytes) >=
                                         kReleaseAfterChunkBytes)) {
    impl_->ResetChunkBytesSinceRelease();
    ReleaseWholeMap(impl_->dir / "data.mdb");
  }
  // A file system that fills up in the middle of LMDB's write of the pages gives a short write,
  // which LMDB reports as EIO rather than ENOSPC. Either way the meta page was not written and
  // the transaction is gone, so the caller must hear "full", not "I/O error".
  if (st.code() == Code::kIOError && FileSystemFull(impl_->dir)) {
    return Status::StoreFull("commit: no space left on the file system (" + st.message() + ")");
  }
  return st;
}

Status Store::View(const std::function<Status(ReadTxn&)>& fn) const {
  Impl::Counted counted(impl_.get());
  KH_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->Begin(true));
  ReadTxn r(impl_.get(), txn.get());
  return fn(r);
}

Store::Usage Store::GetUsage() const {
  Impl::Counted counted(impl_.get());  // not while the map is being re-mapped
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(impl_->env.get(), &info);
  mdb_env_stat(impl_->env.get(), &stat);
  return {static_cast<uint64_t>(info.me_last_pgno + 1) * stat.ms_psize, info.me_mapsize};
}

bool Store::encrypted() const { return impl_->codec->encrypted(); }

Status Store::BackupTo(const std::filesystem::path& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + path.string());
  int rc;
  {
    Impl::Counted counted(impl_.get());  // the copy reads in a transaction of its own
    rc = mdb_env_copyfd2(impl_->env.get(), fd, MDB_CP_COMPACT);
  }
  Status st = lmdb::ToStatus(rc, "backup");
  if (st.ok() && ::fsync(fd) != 0) st = ErrnoStatus("fsync " + path.string());
  ::close(fd);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

namespace {

Status WalkPrefix(MDB_txn* txn, MDB_dbi dbi, Table table, ByteView prefix, ByteView start,
                  const std::function<Result<bool>(ByteView key, const MDB_val& raw)>& fn);

// Releases the mapping of a large value once it is copied out (as ReadTxn does), so that
// rewriting a big store keeps the resident set flat.
void Release(const MDB_val& v) { ReleaseMappedPages(v); }

// The LMDB environment a rotation writes: a single file beside data.mdb, not yet the store, so
// it is filled in many short transactions without syncs and synced once when complete.
class RotatingCopy {
 public:
  static Result<std::unique_ptr<RotatingCopy>> Create(const std::filesystem::path& dir,
                                                      uint64_t map_size) {
    auto copy = std::unique_ptr<RotatingCopy>(new RotatingCopy(dir / kRotatingFile));
    RemoveUnfinishedRotation(dir);
    MDB_env* raw = nullptr;
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_create(&raw), "create the re-encrypted copy"));
    copy->env_ = lmdb::Env(raw);
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_set_maxdbs(raw, kTableCount + 2), "set max dbs"));
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_set_mapsize(raw, map_size), "set map size"));
    KH_RETURN_IF_ERROR(lmdb::ToStatus(
        mdb_env_open(raw, copy->path_.c_str(), MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600),
        ("create " + copy->path_.string()).c_str()));
    KH_RETURN_IF_ERROR(copy->Begin());
    for (int i = 0; i < kTableCount; ++i) {
      KH_RETURN_IF_ERROR(lmdb::ToStatus(
          mdb_dbi_open(copy->txn_->get(), kTableNames[i], MDB_CREATE, &copy->dbis_[i]),
          kTableNames[i]));
    }
    return copy;
  }
  // Removes the copy unless it was renamed into place.
  ~RotatingCopy() {
    txn_.reset();
    env_ = lmdb::Env();
    RemoveUnfinishedRotation(path_.parent_path());
  }

  // Appends in key order (MDB_APPEND: a key out of order or repeated is refused).
  Status Append(Table table, ByteView key, ByteView value) {
    MDB_val k = ToVal(key), v = ToVal(value);
    int rc = mdb_put(txn_->get(), dbis_[static_cast<int>(table)], &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
      return Status::Corruption(std::string(TableName(table)) + ": two keys would become " +
                                ToHex(key));
    }
    KH_RETURN_IF_ERROR(lmdb::ToStatus(rc, TableName(table)));
    pending_ += key.size() + value.size();
    if (pending_ < (uint64_t{32} << 20)) return Status::Ok();
    KH_RETURN_IF_ERROR(txn_->Commit());
    return Begin();
  }
  // Commits and syncs the copy to disk, closes it, and leaves the file for the caller to rename.
  Status Finish() {
    KH_RETURN_IF_ERROR(txn_->Commit());
    txn_.reset();
    KH_RETURN_IF_ERROR(lmdb::ToStatus(mdb_env_sync(env_.get(), 1), "sync the re-encrypted copy"));
    env_ = lmdb::Env();
    return Status::Ok();
  }

 private:
  explicit RotatingCopy(std::filesystem::path path) : path_(std::move(path)) {}
  Status Begin() {
    pending_ = 0;
    KH_ASSIGN_OR_RETURN(lmdb::Txn txn, lmdb::Txn::Begin(env_.get(), false));
    txn_ = std::make_unique<lmdb::Txn>(std::move(txn));
    return Status::Ok();
  }
  std::filesystem::path path_;
  lmdb::Env env_;
  std::unique_ptr<lmdb::Txn> txn_;  // dies before env_
  std::array<MDB_dbi, kTableCount> dbis_{};
  uint64_t pending_ = 0;
};

}  // namespace

Result<Store::Rotation> Store::RotateDataKey(const SymmetricKey& next, const RenamePlan& plan,
                                             const std::function<Status()>& before_commit) {
  if (impl_->read_only || !impl_->exclusive || !impl_->codec->encrypted()) {
    return Status::InvalidArgument(
        "a data key is rotated only in an encrypted store opened read-write and exclusively");
  }
  auto fresh = std::make_unique<store_internal::ValueCodec>(next);
  KH_ASSIGN_OR_RETURN(std::unique_ptr<RotatingCopy> copy,
                      RotatingCopy::Create(impl_->dir, impl_->map_size));
  Rotation done;
  // 1. The whole store, read in one snapshot with the old key, written to the copy with the new.
  Status copied = [&]() -> Status {
    Impl::Counted counted(impl_.get());
    KH_ASSIGN_OR_RETURN(lmdb::Txn txn, impl_->Begin(true));
    const store_internal::ValueCodec& old = *impl_->codec;
    ReadTxn current(impl_.get(), txn.get());
    KH_ASSIGN_OR_RETURN(KeyRenames renames,
                        plan(current, [&](ByteView name) { return fresh->Blind(name); }));
    auto unreadable = [](Status st) {
      return st.Annotate(
          "cannot re-encrypt the store, nothing was changed (repair the damage first: "
          "`khronika scrub`)");
    };
    for (int i = 0; i < kTableCount; ++i) {
      const Table table = static_cast<Table>(i);
      const MDB_dbi dbi = impl_->dbi(table);
      if (!KeysAreBlinded(table)) {
        KH_RETURN_IF_ERROR(WalkPrefix(
            txn.get(), dbi, table, {}, {}, [&](ByteView key, const MDB_val& v) -> Result<bool> {
              if (table == Table::kMeta && store_internal::ValueCodec::IsClearMetaKey(key)) {
                // The format and cipher names stay; the key check is made for the new key.
                Bytes clear = AsChars(key) == kKeyCheckKey
                                  ? AeadSeal(next, AsBytes(kKeyCheckPlain), AsBytes(kKeyCheckKey))
                                  : Bytes(FromVal(v).begin(), FromVal(v).end());
                KH_RETURN_IF_ERROR(copy->Append(table, key, clear));
                return true;
              }
              auto plain = old.Open(table, key, FromVal(v));
              Release(v);
              if (!plain.ok()) return unreadable(plain.status());
              Bytes sealed = fresh->Seal(table, key, *plain);
              OPENSSL_cleanse(plain->data(), plain->size());
              KH_RETURN_IF_ERROR(copy->Append(table, key, sealed));
              ++done.values;
              return true;
            }));
        continue;
      }
      // A blinded table: every entry under its new key, in the new keys' order. The values are
      // small (record hashes, author records, times, nothing).
      const auto& table_renames = renames[table];
      std::vector<std::pair<Bytes, Bytes>> moved;
      KH_RETURN_IF_ERROR(WalkPrefix(
          txn.get(), dbi, table, {}, {}, [&](ByteView key, const MDB_val& v) -> Result<bool> {
            auto to = table_renames.find(Bytes(key.begin(), key.end()));
            if (to == table_renames.end()) {
              return Status::Corruption(std::string(TableName(table)) + " " + ToHex(key) +
                                        ": no new key is known for it, so the store cannot be "
                                        "re-encrypted; nothing was changed");
            }
            if (!to->second) {
              ++done.dropped;
              return true;
            }
            auto plain = old.Open(table, key, FromVal(v));
            if (!plain.ok()) return unreadable(plain.status());
            if (*to->second != Bytes(key.begin(), key.end())) ++done.renamed;
            moved.emplace_back(*to->second, std::move(plain).value());
            return true;
          }));
      std::sort(moved.begin(), moved.end());
      for (auto& [key, plain] : moved) {
        Bytes sealed = fresh->Seal(table, key, plain);
        OPENSSL_cleanse(plain.data(), plain.size());
        KH_RETURN_IF_ERROR(copy->Append(table, key, sealed));
        ++done.values;
      }
    }
    return Status::Ok();
  }();
  if (!copied.ok()) return copied;
  KH_RETURN_IF_ERROR(copy->Finish());
  if (before_commit) KH_RETURN_IF_ERROR(before_commit());
  // 2. The commit: the copy takes data.mdb's place. The environment is closed meanwhile (the
  // directory lock is kept, so no other process opens the store in between), then reopened.
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->open_txns != 0) {
      return Status::InvalidArgument("a transaction is open during the rotation");
    }
  }
  impl_->env = lmdb::Env();
  const std::filesystem::path data = impl_->dir / "data.mdb",
                              copy_path = impl_->dir / kRotatingFile;
  Status swapped = ::rename(copy_path.c_str(), data.c_str()) == 0
                       ? Status::Ok()
                       : ErrnoStatus("rename " + copy_path.string());
  if (swapped.ok()) {
    // LMDB's lock file describes the old file's transactions: it is made anew.
    std::error_code ec;
    std::filesystem::remove(impl_->dir / "lock.mdb", ec);
    std::filesystem::remove(impl_->dir / (std::string(kRotatingFile) + "-lock"), ec);
    UniqueFd dir_fd(::open(impl_->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
      swapped = ErrnoStatus("fsync " + impl_->dir.string());
    }
  }
  // Reopened in any case: with the old file if the rename failed (nothing changed).
  Status reopened = OpenEnvironment(*impl_, impl_->map_size);
  if (reopened.ok()) {
    auto txn = lmdb::Txn::Begin(impl_->env.get(), false);
    reopened = txn.ok() ? OpenTables(txn->get(), *impl_) : txn.status();
    if (reopened.ok()) reopened = txn->Commit();
  }
  KH_RETURN_IF_ERROR(swapped);
  impl_->codec = std::move(fresh);
  KH_RETURN_IF_ERROR(reopened.Annotate("reopen the re-encrypted store"));
  return done;
}

// ---- ReadTxn ----

namespace {
// The mapping of the file `data` (LMDB's map of data.mdb) in this process that holds
// [p, p + n), if one does: found in /proc/self/maps by the file's device and inode, since LMDB
// does not tell where its map is (mdb_env_info gives an address only for MDB_FIXEDMAP).
std::optional<std::pair<uintptr_t, uintptr_t>> MappingOf(const std::filesystem::path& data,
                                                         const void* p, size_t n) {
  struct stat st;
  if (::stat(data.c_str(), &st) != 0) return std::nullopt;
  const auto begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    unsigned long lo = 0, hi = 0, inode = 0;
    unsigned dev_major = 0, dev_minor = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &dev_major, &dev_minor,
                    &inode) != 5) {
      continue;
    }
    if (inode == st.st_ino && dev_major == major(st.st_dev) && dev_minor == minor(st.st_dev) &&
        begin >= lo && end <= hi) {
      return std::make_pair(uintptr_t{lo}, uintptr_t{hi});
    }
  }
  return std::nullopt;
}

// A read fault on a file mapping maps the pages around the one asked for too (the kernel's
// fault-around, 64 KiB by default), so what a value's first touch brought in reaches past it.
constexpr uintptr_t kFaultAround = 64 * 1024;

// Drops the mapping of a large value once it has been copied out or deleted (ReleaseMappedPages).
// In a write transaction a value may live in the transaction's own memory instead (a page it
// wrote), which must never be given to madvise: there, only a value inside the file's map is
// released, with the fault-around window on either side (within the map).
// Releases what a read fault on the first page of a large value (its overflow page header,
// just before the value's bytes) can have mapped: the aligned 2 MiB (the largest folio) around
// it, within the map. For a value this transaction wrote (not in the map), nothing.
void ReleaseAroundFirstPage(const Store::Impl* store, const MDB_val& v) {
  auto map = MappingOf(store->dir / "data.mdb", v.mv_data, v.mv_size);
  if (!map) return;
  constexpr uintptr_t kFolio = 2 * 1024 * 1024;
  const auto first = reinterpret_cast<uintptr_t>(v.mv_data) - 1;  // in the page header
  const uintptr_t begin = std::max(map->first, first & ~(kFolio - 1));
  const uintptr_t end = std::min(map->second, (first & ~(kFolio - 1)) + kFolio);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void ReleaseIfMapped(const Store::Impl* store, bool writable, const MDB_val& v) {
  if (v.mv_size < kReleaseThreshold) return;
  if (!writable) return ReleaseMappedPages(v);
  auto map = MappingOf(store->dir / "data.mdb", v.mv_data, v.mv_size);
  if (!map) return;
  const auto data = reinterpret_cast<uintptr_t>(v.mv_data);
  const uintptr_t aligned = data & ~(kFaultAround - 1);
  const uintptr_t begin =
      aligned >= map->first + kFaultAround ? aligned - kFaultAround : map->first;
  const uintptr_t end =
      std::min(map->second, ((data + v.mv_size + kFaultAround - 1) & ~(kFaultAround - 1)) +
                                kFaultAround);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}
}  // namespace

Result<std::optional<Bytes>> ReadTxn::Get(Table table, ByteView key) const {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(static_cast<MDB_txn*>(txn_), store_->dbi(table), &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  auto plain = store_->codec->Open(table, key, FromVal(v));
  ReleaseIfMapped(store_, writable_, v);
  if (!plain.ok()) return plain.status();
  return std::optional<Bytes>(std::move(plain).value());
}

Result<bool> ReadTxn::Contains(Table table, ByteView key) const {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(static_cast<MDB_txn*>(txn_), store_->dbi(table), &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  return true;
}

namespace {

// Walks the entries of `dbi` in key order from the first key >= `start` (or `prefix`, whichever
// is further) while keys start with `prefix`, giving `fn` each key and its raw stored value,
// until `fn` returns false.
Status WalkPrefix(MDB_txn* txn, MDB_dbi dbi, Table table, ByteView prefix, ByteView start,
                  const std::function<Result<bool>(ByteView key, const MDB_val& raw)>& fn) {
  KH_ASSIGN_OR_RETURN(lmdb::Cursor cursor, lmdb::Cursor::Open(txn, dbi));
  ByteView first = start.size() > prefix.size() ? start : prefix;
  MDB_val k = ToVal(first), v;
  int rc = first.empty() ? mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST)
                         : mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    ByteView key = FromVal(k);
    if (!HasPrefix(key, prefix)) break;
    KH_ASSIGN_OR_RETURN(bool more, fn(key, v));
    if (!more) return Status::Ok();
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return lmdb::ToStatus(rc, TableName(table));
  return Status::Ok();
}

}  // namespace

Status ReadTxn::Scan(Table table, ByteView prefix,
                     const std::function<Result<bool>(ByteView, ByteView)>& fn, ByteView start,
                     const std::function<void(ByteView key)>& unreadable) const {
  return WalkPrefix(static_cast<MDB_txn*>(txn_), store_->dbi(table), table, prefix, start,
                    [&](ByteView key, const MDB_val& raw) -> Result<bool> {
                      auto plain = store_->codec->Open(table, key, FromVal(raw));
                      ReleaseIfMapped(store_, writable_, raw);
                      if (!plain.ok() && unreadable) {
                        unreadable(key);
                        return true;
                      }
                      if (!plain.ok()) return plain.status();
                      return fn(key, *plain);
                    });
}

Status ReadTxn::ScanKeys(Table table, ByteView prefix,
                         const std::function<Result<bool>(ByteView)>& fn) const {
  return WalkPrefix(static_cast<MDB_txn*>(txn_), store_->dbi(table), table, prefix, {},
                    [&](ByteView key, const MDB_val&) { return fn(key); });
}

Result<std::optional<std::pair<Bytes, Bytes>>> ReadTxn::Last(Table table,
                                                             ByteView prefix) const {
  using Out = std::optional<std::pair<Bytes, Bytes>>;
  KH_ASSIGN_OR_RETURN(lmdb::Cursor cursor,
                      lmdb::Cursor::Open(static_cast<MDB_txn*>(txn_), store_->dbi(table)));
  MDB_val k, v;
  int rc;
  // Seek just past the prefix range: the prefix followed by 0xff bytes, then step back.
  Bytes upper(prefix.begin(), prefix.end());
  upper.insert(upper.end(), 64, 0xff);
  k = ToVal(upper);
  rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  } else if (rc == MDB_SUCCESS) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV);
  }
  if (rc == MDB_NOTFOUND) return Out();
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  ByteView key = FromVal(k);
  if (!HasPrefix(key, prefix)) return Out();
  KH_ASSIGN_OR_RETURN(Bytes plain, store_->codec->Open(table, key, FromVal(v)));
  return Out(std::make_pair(Bytes(key.begin(), key.end()), std::move(plain)));
}

Result<uint64_t> ReadTxn::Count(Table table) const {
  MDB_stat stat;
  int rc = mdb_stat(static_cast<MDB_txn*>(txn_), store_->dbi(table), &stat);
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  return static_cast<uint64_t>(stat.ms_entries);
}

Bytes ReadTxn::Blind(ByteView name) const { return store_->codec->Blind(name); }

// ---- WriteTxn ----

namespace {

// Writes `value` under `key` with mdb_put's `flags`: as it is, or sealed straight into the space
// LMDB reserves for it (MDB_RESERVE), with no copy of the sealed bytes in between. On
// MDB_KEYEXIST (with MDB_NOOVERWRITE), `v` is left holding what the key already has.
int PutValue(MDB_txn* txn, MDB_dbi dbi, const store_internal::ValueCodec& codec, Table table,
             ByteView key, ByteView value, unsigned flags, MDB_val& v) {
  MDB_val k = ToVal(key);
  if (codec.WritesAsIs(table, key)) {
    v = ToVal(value);
    return mdb_put(txn, dbi, &k, &v, flags);
  }
  v.mv_size = value.size() + kAeadOverhead;
  v.mv_data = nullptr;
  int rc = mdb_put(txn, dbi, &k, &v, flags | MDB_RESERVE);
  if (rc == MDB_SUCCESS) {
    codec.SealInto(table, key, value, std::span<uint8_t>(static_cast<uint8_t*>(v.mv_data), v.mv_size));
  }
  return rc;
}

}  // namespace

Status WriteTxn::Put(Table table, ByteView key, ByteView value) {
  CountChunkBytes(table, value.size());
  MDB_val v{};
  return lmdb::ToStatus(PutValue(static_cast<MDB_txn*>(txn_), store_->dbi(table), *store_->codec,
                                 table, key, value, 0, v),
                        TableName(table));
}

Status WriteTxn::PutImmutable(Table table, ByteView key, ByteView value) {
  // One lookup: LMDB refuses to overwrite and hands back what the key already holds.
  MDB_val v{};
  int rc = PutValue(static_cast<MDB_txn*>(txn_), store_->dbi(table), *store_->codec, table, key,
                    value, MDB_NOOVERWRITE, v);
  if (rc == MDB_KEYEXIST) {
    auto existing = store_->codec->Open(table, key, FromVal(v));
    ReleaseIfMapped(store_, writable_, v);
    if (!existing.ok()) return existing.status();
    if (ConstantTimeEqual(*existing, value)) return Status::Ok();
    return Status::AlreadyExists(std::string(TableName(table)) + ": key " + ToHex(key) +
                                 " already holds different bytes");
  }
  if (rc == MDB_SUCCESS) CountChunkBytes(table, value.size());
  return lmdb::ToStatus(rc, TableName(table));
}

Status WriteTxn::Delete(Table table, ByteView key) {
  MDB_txn* txn = static_cast<MDB_txn*>(txn_);
  MDB_val k = ToVal(key), v{};
  int rc = mdb_get(txn, store_->dbi(table), &k, &v);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  rc = mdb_del(txn, store_->dbi(table), &k, nullptr);
  if (rc != MDB_SUCCESS) return lmdb::ToStatus(rc, TableName(table));
  // Freeing a large value makes LMDB read the header of its first overflow page through the
  // map. Where the kernel keeps the file's page cache in large folios (ext4 on this kernel),
  // that one fault maps the whole folio around it, up to 2 MiB: deleting a 2 GiB file's upload
  // chunks in one transaction mapped 1.7 GiB. What that fault can have mapped is released at
  // once, and the whole map after the commit.
  if (v.mv_size >= kReleaseThreshold) {
    t_deleted_large = true;
    ReleaseAroundFirstPage(store_, v);
  }
  return Status::Ok();
}

}  // namespace khronika
