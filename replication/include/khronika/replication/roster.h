// The federation roster (members whose logs this node accepts) and its direct peers (nodes it
// talks to, pinned by TLS certificate fingerprint; no certificate authority).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/recovery.h"
#include "khronika/store/store.h"

namespace khronika {

struct Member {
  Hash node_id{};
  PublicKey key{};
  std::string vkey;           // C2SP verifier key of its checkpoints
  std::string cosigner_vkey;  // its witness key, if given
  bool removed = false;       // `member remove`d: its log is no longer accepted
  // The public half of its operator's offline recovery key, if given: what the recovery shares
  // of this node's archive key are sealed to (docs/operator.md, "Recovery").
  std::optional<X25519PublicKey> recovery_key;
};

// Registers a member by its verifier key, whose name must be "khronika/<SHA-256 of the key>".
// An empty witness key or recovery key keeps the one already known, if any.
Result<Member> AddMember(Store& store, std::string_view vkey, std::string_view cosigner_vkey,
                         std::string_view recovery_pubkey = {});
Result<std::vector<Member>> ListMembers(Store& store);
// Stops accepting `node_id`'s log. A member of which this node holds no record leaves the
// roster; one whose records are held keeps its key (needed to verify and serve them) marked
// removed, so that sync takes nothing new from it. `member add` makes it a member again.
// InvalidArgument for the node itself, NotFound for a node that is not a member.
Status RemoveMember(Store& store, const Hash& node_id);
// The roster key of `origin`, if it is a member (the local node always is).
Result<std::optional<PublicKey>> MemberKey(const ReadTxn& txn, const Hash& origin);

struct Peer {
  Hash node_id{};
  std::string url;          // https://host:port; may be empty for a serve-only peer
  std::string cert_sha256;  // 64 hex
  // Serve-only: the peer may pull from this node (its certificate opens the sync endpoints,
  // exactly as any peer's does) but this node never connects to it: no pull, no notification,
  // no scrub repair. For an auditor's node that has no public address.
  bool serve_only = false;
};

// Adds or replaces the peer with that id. InvalidArgument for a URL that is not https:// (an
// empty one is allowed only for a serve-only peer) or a fingerprint that is not 64 lowercase
// hex. Making a peer serve-only forgets what the last pull from it did (GetPeerStatus).
Status AddPeer(Store& store, const Peer& peer);
Status RemovePeer(Store& store, const Hash& node_id);
Result<std::vector<Peer>> ListPeers(Store& store);
// The configured peer whose certificate has this fingerprint, if any.
Result<std::optional<Peer>> PeerByCertificate(const ReadTxn& txn, std::string_view cert_sha256);

// What the last pull from a peer did, for `khronika status`.
struct PeerStatus {
  int64_t last_attempt_ms = 0;
  int64_t last_success_ms = 0;
  uint64_t lag_records = 0;  // records the peer held that this node did not, after the pull
  std::string last_error;
};
Status RecordPeerStatus(Store& store, const Hash& node_id, const PeerStatus& status);
Result<std::optional<PeerStatus>> GetPeerStatus(Store& store, const Hash& node_id);

}  // namespace khronika
