// The canonical encoding's reader and writer (docs/format.md section 1), shared by the record
// (objects.cc), the sealed objects (sealed_objects.cc) and the recovery objects. Private to
// schemas/.
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>

#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/objects.h"

namespace khronika::canonical {

// ---------------------------------------------------------------------------------------------
// Writing. cereal's portable binary archive writes its endianness marker (0x01, little-endian)
// and then every integer little-endian at its fixed width; we add lengths as cereal size tags
// (u64) and raw bytes as binary_data.

// Appends what is written to a Bytes: the writer's output is built in place, not copied out of
// a string stream afterwards.
class BytesStreamBuf : public std::streambuf {
 public:
  explicit BytesStreamBuf(Bytes* out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->insert(out_->end(), s, s + n);
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      out_->push_back(static_cast<uint8_t>(traits_type::to_char_type(c)));
    }
    return traits_type::not_eof(c);
  }

 private:
  Bytes* out_;
};

// A stream made once per thread and lent to one writer or reader at a time. Making a std::ostream
// or std::istream sets up its locale (a dozen facet lookups), which cost more than encoding or
// decoding a small object did: every entry is encoded and decoded several times on its way in,
// and again by `verify`. Writers and readers can nest (an object's encoder encodes its parts),
// so each borrows its own from a small per-thread pool.
template <typename Stream>
class PooledStream {
 public:
  explicit PooledStream(std::streambuf* buf) {
    std::vector<std::unique_ptr<Stream>>& pool = Pool();
    if (pool.empty()) {
      stream_ = std::make_unique<Stream>(buf);
    } else {
      stream_ = std::move(pool.back());
      pool.pop_back();
      stream_->rdbuf(buf);  // also clears any error state a previous borrower left
    }
  }
  ~PooledStream() {
    stream_->rdbuf(nullptr);
    std::vector<std::unique_ptr<Stream>>& pool = Pool();
    if (pool.size() < kKept) pool.push_back(std::move(stream_));
  }
  PooledStream(const PooledStream&) = delete;
  PooledStream& operator=(const PooledStream&) = delete;
  Stream& get() { return *stream_; }

 private:
  static constexpr size_t kKept = 8;
  static std::vector<std::unique_ptr<Stream>>& Pool() {
    thread_local std::vector<std::unique_ptr<Stream>> pool;
    return pool;
  }
  std::unique_ptr<Stream> stream_;
};

class CanonicalWriter {
 public:
  explicit CanonicalWriter(uint8_t type, uint8_t version = kFormatVersion)
      : buf_(&out_),
        stream_(&buf_),
        archive_(stream_.get(), cereal::PortableBinaryOutputArchive::Options::LittleEndian()) {
    archive_(type, version);
  }
  void U8(uint8_t v) { archive_(v); }
  void U64(uint64_t v) { archive_(v); }
  void I64(int64_t v) { archive_(v); }
  void Fixed(ByteView b) { archive_(cereal::binary_data(b.data(), b.size())); }
  void Str(std::string_view s) {
    archive_(cereal::make_size_tag(static_cast<uint64_t>(s.size())));
    archive_(cereal::binary_data(s.data(), s.size()));
  }
  void HashList(const std::vector<Hash>& list) {
    archive_(cereal::make_size_tag(static_cast<uint64_t>(list.size())));
    for (const Hash& h : list) Fixed(h);
  }
  // Room for `n` bytes in all, so that an object of known size is written without the buffer
  // growing (and being copied) a dozen times on the way.
  void Reserve(size_t n) { out_.reserve(n); }
  Bytes Take() { return std::move(out_); }

 private:
  Bytes out_;  // before buf_, which appends to it
  BytesStreamBuf buf_;
  PooledStream<std::ostream> stream_;
  cereal::PortableBinaryOutputArchive archive_;
};

// ---------------------------------------------------------------------------------------------
// Reading. A streambuf over caller memory so nothing is copied; every length is checked against
// the bytes that remain before anything is allocated, so a forged length cannot exhaust memory.

class SpanStreamBuf : public std::streambuf {
 public:
  explicit SpanStreamBuf(ByteView bytes) {
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(begin, begin, begin + bytes.size());
  }
  size_t remaining() const { return static_cast<size_t>(egptr() - gptr()); }
};

class DecodeError {
 public:
  explicit DecodeError(std::string m) : message(std::move(m)) {}
  std::string message;
};

class CanonicalReader {
 public:
  CanonicalReader(ByteView bytes, uint8_t expected_type, const char* what,
                  uint8_t expected_version = kFormatVersion)
      : buf_(bytes), stream_(&buf_), what_(what) {
    if (bytes.size() < 3) Fail("truncated header");
    if (bytes[0] != kCerealLittleEndianMarker) Fail("not a little-endian canonical encoding");
    if (bytes[1] != expected_type) Fail("wrong object type");
    if (bytes[2] != expected_version) {
      Fail("unknown format version " + std::to_string(bytes[2]));
    }
    archive_.emplace(stream_.get(), cereal::PortableBinaryInputArchive::Options::LittleEndian());
    uint8_t type = 0, version = 0;
    (*archive_)(type, version);
  }

  [[noreturn]] void Fail(const std::string& why) {
    throw DecodeError(std::string(what_) + ": " + why);
  }
  void Need(uint64_t n, const char* field) {
    if (n > buf_.remaining()) Fail(std::string("truncated at ") + field);
  }
  uint8_t U8(const char* field) {
    Need(1, field);
    uint8_t v;
    (*archive_)(v);
    return v;
  }
  uint64_t U64(const char* field) {
    Need(8, field);
    uint64_t v;
    (*archive_)(v);
    return v;
  }
  int64_t I64(const char* field) {
    Need(8, field);
    int64_t v;
    (*archive_)(v);
    return v;
  }
  template <size_t N>
  void Fixed(std::array<uint8_t, N>& out, const char* field) {
    Need(N, field);
    (*archive_)(cereal::binary_data(out.data(), N));
  }
  // Exactly out.size() raw bytes.
  void Raw(Bytes& out, const char* field) {
    Need(out.size(), field);
    (*archive_)(cereal::binary_data(out.data(), out.size()));
  }
  std::string Str(size_t max_len, const char* field) {
    uint64_t len = Size(field);
    if (len > max_len) Fail(std::string(field) + " longer than " + std::to_string(max_len));
    Need(len, field);
    std::string s(len, '\0');
    (*archive_)(cereal::binary_data(s.data(), len));
    return s;
  }
  std::vector<Hash> HashList(size_t max_count, const char* field) {
    uint64_t count = Size(field);
    if (count > max_count) Fail(std::string(field) + ": too many ids");
    Need(count * 32, field);
    std::vector<Hash> out(count);
    for (Hash& h : out) Fixed(h, field);
    return out;
  }
  uint64_t Size(const char* field) {
    Need(8, field);
    uint64_t n = 0;
    (*archive_)(cereal::make_size_tag(n));
    return n;
  }
  void Finish() {
    if (buf_.remaining() != 0) Fail(std::to_string(buf_.remaining()) + " trailing bytes");
  }

 private:
  SpanStreamBuf buf_;
  PooledStream<std::istream> stream_;
  const char* what_;
  std::optional<cereal::PortableBinaryInputArchive> archive_;
};

// Runs a decoder, turning every failure (ours or cereal's) into InvalidArgument, and then
// insists that encoding the result gives back exactly the input: the one canonical form.
template <typename T, typename DecodeFn>
Result<T> DecodeCanonical(ByteView bytes, const char* what, DecodeFn decode) {
  if (bytes.size() > kMaxObjectBytes) {
    return Status::InvalidArgument(std::string(what) + ": larger than the object size limit");
  }
  T value;
  try {
    value = decode(bytes);
  } catch (const DecodeError& e) {
    return Status::InvalidArgument(e.message);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(what) + ": " + e.what());
  }
  if (Encode(value) != Bytes(bytes.begin(), bytes.end())) {
    return Status::InvalidArgument(std::string(what) + ": not in canonical form");
  }
  return value;
}

}  // namespace khronika::canonical
