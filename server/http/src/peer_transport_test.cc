#include "khronika/http/peer_transport.h"

#include <gtest/gtest.h>

namespace khronika {
namespace {

Peer PeerAt(const std::string& url) {
  Peer p;
  p.node_id.fill(0xab);
  p.url = url;
  return p;
}

TEST(WithoutPeerAddressTest, NamesThePeerByItsIdInsteadOfItsUrl) {
  Peer p = PeerAt("https://rights-watch.example:8443");
  EXPECT_EQ(
      WithoutPeerAddress("connect to https://rights-watch.example:8443: Connection refused", p),
      "connect to peer abababababababab: Connection refused");
  EXPECT_EQ(WithoutPeerAddress("resolve rights-watch.example: Host not found", p),
            "resolve peer abababababababab: Host not found");
  EXPECT_EQ(WithoutPeerAddress("rights-watch.example:8443 and rights-watch.example", p),
            "peer abababababababab and peer abababababababab");
  // Another host that contains this one is left alone.
  EXPECT_EQ(WithoutPeerAddress("resolve www.rights-watch.example.org: x", p),
            "resolve www.rights-watch.example.org: x");
  EXPECT_EQ(WithoutPeerAddress("heads: 503 busy", p), "heads: 503 busy");
}

TEST(WithoutPeerAddressTest, IpAddresses) {
  EXPECT_EQ(WithoutPeerAddress("TLS handshake with https://10.0.0.5:8443: eof; resolve 10.0.0.5: x",
                               PeerAt("https://10.0.0.5:8443")),
            "TLS handshake with peer abababababababab: eof; resolve peer abababababababab: x");
  EXPECT_EQ(WithoutPeerAddress("send to https://[fd00::5]:8443: reset; resolve fd00::5: x",
                               PeerAt("https://[fd00::5]:8443")),
            "send to peer abababababababab: reset; resolve peer abababababababab: x");
}

}  // namespace
}  // namespace khronika
