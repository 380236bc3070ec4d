#include "khronika/schemas/objects.h"

#include <algorithm>

#include "canonical.h"
#include "khronika/schemas/text.h"

namespace khronika {

using canonical::CanonicalReader;
using canonical::CanonicalWriter;
using canonical::DecodeCanonical;

namespace {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

bool HasControlBytes(std::string_view s, bool allow_tab_newline) {
  for (char ch : s) {
    uint8_t c = static_cast<uint8_t>(ch);
    if (allow_tab_newline && (c == '\t' || c == '\n')) continue;
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

// ---- Validation ----

Status ValidateFileName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("file name is empty");
  if (name.size() > kMaxFileNameBytes) {
    return Status::InvalidArgument("file name is longer than 255 bytes");
  }
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    return Status::InvalidArgument("file name contains a path separator");
  }
  if (name.find("..") != std::string_view::npos || name == ".") {
    return Status::InvalidArgument("file name contains '..' or is '.'");
  }
  if (HasControlBytes(name, false)) {
    return Status::InvalidArgument("file name contains NUL or control bytes");
  }
  if (!IsValidUtf8(name)) return Status::InvalidArgument("file name is not valid UTF-8");
  if (auto cp = FirstInvisibleCodePoint(name)) {
    return Status::InvalidArgument("file name contains " + CodePointLabel(*cp) +
                                   ", an invisible or text-direction control character: a name "
                                   "must read as it is");
  }
  return Status::Ok();
}

Status ValidateMediaType(std::string_view t) {
  if (t.empty() || t.size() > kMaxMediaTypeBytes) {
    return Status::InvalidArgument("media type must be 1 to 127 bytes");
  }
  size_t slash = t.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == t.size() ||
      t.find('/', slash + 1) != std::string_view::npos) {
    return Status::InvalidArgument("media type must look like type/subtype");
  }
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
              c == '+' || c == '-' || c == '_';
    if (!ok) return Status::InvalidArgument("media type has a character outside [a-z0-9/.+_-]");
  }
  return Status::Ok();
}

Status ValidateCaseId(std::string_view id) {
  if (id.empty() || id.size() > kMaxCaseIdBytes) {
    return Status::InvalidArgument("case id must be 1 to 128 characters");
  }
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return Status::InvalidArgument(
          "case id must start with a letter or digit and use only letters, digits, '.', '_', '-'");
    }
  }
  return Status::Ok();
}

Status ValidateKind(std::string_view kind) {
  if (kind.empty() || kind.size() > kMaxKindBytes) {
    return Status::InvalidArgument("kind must be 1 to 32 characters");
  }
  for (size_t i = 0; i < kind.size(); ++i) {
    char c = kind[i];
    bool ok = (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '_'));
    if (!ok) return Status::InvalidArgument("kind must be lowercase letters, digits, '-' or '_'");
  }
  return Status::Ok();
}

Status ValidateMetadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataPairs) {
    return Status::InvalidArgument("more than 64 metadata pairs");
  }
  size_t total = 0;
  for (const auto& [k, v] : metadata) {
    if (k.empty() || k.size() > kMaxMetadataKeyBytes) {
      return Status::InvalidArgument("metadata key must be 1 to 64 characters");
    }
    for (char c : k) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      if (!ok) {
        return Status::InvalidArgument("metadata key '" + k +
                                       "' uses characters outside [A-Za-z0-9._-]");
      }
    }
    if (v.size() > kMaxMetadataValueBytes) {
      return Status::InvalidArgument("metadata value for '" + k + "' is longer than 4096 bytes");
    }
    if (HasControlBytes(v, true) || !IsValidUtf8(v)) {
      return Status::InvalidArgument("metadata value for '" + k +
                                     "' must be UTF-8 text without control bytes");
    }
    total += k.size() + v.size();
  }
  if (total > kMaxMetadataTotalBytes) {
    return Status::InvalidArgument("metadata larger than 32 KiB in total");
  }
  return Status::Ok();
}

// ---- Encoding ----

Bytes Encode(const Record& r) {
  CanonicalWriter w(kTypeRecord);
  w.Reserve(kRecordBytes);
  w.Fixed(r.origin);
  w.U64(r.index);
  w.Fixed(r.prev_record);
  w.Fixed(r.object_id);
  w.I64(r.received_at_ms);
  return w.Take();
}

Result<uint8_t> PeekObjectType(ByteView bytes) {
  if (bytes.size() < 3 || bytes[0] != kCerealLittleEndianMarker ||
      bytes[2] != kFormatVersion) {
    return Status::InvalidArgument("not a canonical Khronika object");
  }
  return bytes[1];
}

Result<Record> DecodeRecord(ByteView bytes) {
  return DecodeCanonical<Record>(bytes, "record", [](ByteView b) {
    CanonicalReader r(b, kTypeRecord, "record");
    Record rec;
    r.Fixed(rec.origin, "origin");
    rec.index = r.U64("index");
    r.Fixed(rec.prev_record, "previous record");
    r.Fixed(rec.object_id, "object id");
    rec.received_at_ms = r.I64("received at");
    r.Finish();
    return rec;
  });
}

namespace {
const std::pair<std::string_view, std::string_view> kMediaTypes[] = {
      {".pdf", "application/pdf"},   {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},
      {".png", "image/png"},         {".gif", "image/gif"},         {".webp", "image/webp"},
      {".heic", "image/heic"},       {".txt", "text/plain"},        {".md", "text/markdown"},
      {".csv", "text/csv"},          {".html", "text/html"},        {".json", "application/json"},
      {".xml", "application/xml"},   {".zip", "application/zip"},   {".mp4", "video/mp4"},
      {".mov", "video/quicktime"},   {".mp3", "audio/mpeg"},        {".wav", "audio/wav"},
      {".ogg", "audio/ogg"},         {".m4a", "audio/mp4"},         {".eml", "message/rfc822"},
      {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
};
}  // namespace

std::string GuessMediaType(std::string_view file_name) {
  std::string lower(file_name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [ext, type] : kMediaTypes) {
    if (lower.size() > ext.size() && lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0) {
      return std::string(type);
    }
  }
  return "application/octet-stream";
}

std::string_view FileExtensionFor(std::string_view media_type) {
  for (const auto& [ext, type] : kMediaTypes) {
    if (type == media_type) return ext;  // the first, so image/jpeg gives ".jpg"
  }
  return ".bin";
}

// ---- Hashes ----

Hash LeafHash(ByteView record_bytes) {
  Sha256Stream s;
  const uint8_t prefix = 0x00;
  s.Update({&prefix, 1});
  s.Update(record_bytes);
  return s.Finish();
}

Hash NodeIdFromPublicKey(const PublicKey& key) { return Sha256(key); }

std::string OriginName(const Hash& origin) { return "khronika/" + ToHex(origin); }

}  // namespace khronika
