// Custody records: sealed batches of custody events, each event in a box of its own so that one
// event can be disclosed without the others, padded so that the count shows only roughly.
#include "khronika/schemas/custody.h"

#include <gtest/gtest.h>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

CustodyEvent Read(int64_t t, std::string case_id, std::string object) {
  return {t, "0123456789abcdef", "reader", "read-content", std::move(object), std::move(case_id)};
}

CustodyNonce Nonce(uint8_t b) {
  CustodyNonce n;
  n.fill(b);
  return n;
}

TEST(CustodyTest, EventsRoundTripAndTheRecordPadsTheirCount) {
  SymmetricKey archive = RandomSymmetricKey();
  std::vector<CustodyEvent> events = {Read(1, "case-a", std::string(64, 'a') + "/0"),
                                      Read(2, "case-b", std::string(64, 'b') + "/3"),
                                      {3, "local", "admin", "export", "case bundle", "case-a"},
                                      {4, "local", "admin", "token-grant", "fedcba9876543210", ""},
                                      {5, "local", "", "passphrase-change", "keyring", ""}};
  CustodyRecord record = SealCustodyRecord(archive, Nonce(7), events).value();
  EXPECT_EQ(record.boxes.size(), 8u);  // 5 events: 8 slots
  Bytes bytes = Encode(record);
  EXPECT_EQ(bytes.size(), 3 + 32 + 8 + 8 * kCustodyBoxBytes);
  auto decoded = DecodeCustodyRecord(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(*decoded, record);
  EXPECT_EQ(PeekObjectType(bytes).value(), kTypeCustodyRecord);
  EXPECT_EQ(OpenCustodyRecord(*decoded, archive).value(), events);

  // One event opens with its own key, and that key opens no other slot.
  SymmetricKey key1 = DeriveCustodyEventKey(DeriveCustodyKey(archive), record.nonce, 1);
  EXPECT_EQ(OpenCustodySlot(record, 1, key1).value(), events[1]);
  EXPECT_EQ(OpenCustodySlot(record, 0, key1).status().code(), Code::kCorruption);
  SymmetricKey key6 = DeriveCustodyEventKey(DeriveCustodyKey(archive), record.nonce, 6);
  EXPECT_FALSE(OpenCustodySlot(record, 6, key6).value().has_value());  // an empty slot
  EXPECT_EQ(OpenCustodySlot(record, 8, key6).status().code(), Code::kInvalidArgument);

  // Another archive key opens nothing.
  EXPECT_EQ(OpenCustodyRecord(record, RandomSymmetricKey()).status().code(), Code::kCorruption);
}

TEST(CustodyTest, SlotCountsArePowersOfTwoFromFour) {
  EXPECT_EQ(CustodySlots(1), 4u);
  EXPECT_EQ(CustodySlots(4), 4u);
  EXPECT_EQ(CustodySlots(5), 8u);
  EXPECT_EQ(CustodySlots(129), 256u);
  EXPECT_EQ(CustodySlots(256), 256u);
  SymmetricKey archive = RandomSymmetricKey();
  // One event and three look alike from outside: same size.
  auto one = SealCustodyRecord(archive, Nonce(1), {Read(1, "c", "x")}).value();
  auto three = SealCustodyRecord(archive, Nonce(2),
                                 {Read(1, "c", "x"), Read(2, "c", "y"), Read(3, "c", "z")})
                   .value();
  EXPECT_EQ(Encode(one).size(), Encode(three).size());
  std::vector<CustodyEvent> full(256, Read(9, "c", "x"));
  EXPECT_EQ(SealCustodyRecord(archive, Nonce(3), full).value().boxes.size(), 256u);
}

TEST(CustodyTest, RefusesBadEventsAndBadCounts) {
  SymmetricKey archive = RandomSymmetricKey();
  EXPECT_EQ(SealCustodyRecord(archive, Nonce(1), {}).status().code(), Code::kInvalidArgument);
  std::vector<CustodyEvent> too_many(257, Read(1, "c", "x"));
  EXPECT_EQ(SealCustodyRecord(archive, Nonce(1), too_many).status().code(),
            Code::kInvalidArgument);
  for (CustodyEvent bad : {Read(1, "../etc", "x"), Read(1, "c", std::string(201, 'o')),
                           Read(1, "c", "line\nbreak"), CustodyEvent{1, "t", "r", "", "o", "c"},
                           CustodyEvent{1, "t", "r", "Read", "o", "c"},
                           CustodyEvent{1, std::string(65, 't'), "r", "read", "o", "c"},
                           CustodyEvent{1, "t", std::string(17, 'r'), "read", "o", "c"}}) {
    EXPECT_EQ(SealCustodyRecord(archive, Nonce(1), {bad}).status().code(), Code::kInvalidArgument)
        << bad.object;
    EXPECT_FALSE(DecodeCustodyEvent(Encode(bad)).ok());
  }
  // The JSON form refuses the same, and anything that is not one.
  EXPECT_FALSE(CustodyEventFromJson(CustodyEventJson(Read(1, "../x", "o"))).ok());
  EXPECT_FALSE(CustodyEventFromJson(nlohmann::json::parse(R"({"time_ms":"1"})")).ok());
  CustodyEvent good = Read(42, "case-7", "abc/0");
  EXPECT_EQ(CustodyEventFromJson(CustodyEventJson(good)).value(), good);
}

TEST(CustodyTest, DecodingRefusesEveryMalformedRecord) {
  SymmetricKey archive = RandomSymmetricKey();
  Bytes good = Encode(SealCustodyRecord(archive, Nonce(1), {Read(1, "c", "x")}).value());
  ASSERT_TRUE(DecodeCustodyRecord(good).ok());
  // Truncated anywhere, one byte too many, another type or version.
  for (size_t cut : {size_t{0}, size_t{2}, size_t{3}, size_t{40}, size_t{43}, good.size() - 1}) {
    EXPECT_FALSE(DecodeCustodyRecord(ByteView(good.data(), cut)).ok()) << cut;
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(DecodeCustodyRecord(longer).ok());
  Bytes other = good;
  other[1] = 'X';
  EXPECT_FALSE(DecodeCustodyRecord(other).ok());
  other = good;
  other[2] = 3;
  EXPECT_FALSE(DecodeCustodyRecord(other).ok());
  // Slot counts that are not a power of two from 4 to 256, including a huge forged one.
  for (uint64_t n : {uint64_t{0}, uint64_t{2}, uint64_t{3}, uint64_t{5}, uint64_t{512},
                     uint64_t{1} << 60}) {
    Bytes forged = good;
    for (int i = 0; i < 8; ++i) forged[35 + i] = uint8_t(n >> (8 * i));  // little-endian u64
    EXPECT_FALSE(DecodeCustodyRecord(forged).ok()) << n;
  }
  // An altered box still decodes (nothing checks it without a key) but does not open.
  Bytes flipped = good;
  flipped[50] ^= 1;
  auto record = DecodeCustodyRecord(flipped);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(OpenCustodyRecord(*record, archive).status().code(), Code::kCorruption);
}

TEST(CustodyTest, AnOpenerRefusesBoxesMovedBetweenSlotsAndEventsAfterAnEmptySlot) {
  SymmetricKey archive = RandomSymmetricKey();
  // Two records under one nonce share their event keys slot by slot (a forger with the key).
  auto five = SealCustodyRecord(archive, Nonce(4), std::vector<CustodyEvent>(5, Read(1, "c", "x")))
                  .value();
  auto nine = SealCustodyRecord(archive, Nonce(4), std::vector<CustodyEvent>(9, Read(2, "c", "y")))
                  .value();
  ASSERT_EQ(five.boxes.size(), 8u);
  // Slot 6 holds an event while slot 5 is empty.
  CustodyRecord gap = five;
  gap.boxes[6] = nine.boxes[6];
  auto opened = OpenCustodyRecord(gap, archive);
  EXPECT_EQ(opened.status().code(), Code::kCorruption);
  EXPECT_NE(opened.status().message().find("an event follows an empty slot"), std::string::npos);
  // A box moved to another slot does not open there: each is bound to its position by its key.
  CustodyRecord swapped = five;
  std::swap(swapped.boxes[0], swapped.boxes[6]);
  EXPECT_EQ(OpenCustodyRecord(swapped, archive).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace khronika
