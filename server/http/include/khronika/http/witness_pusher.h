// This node as a C2SP tlog-witness client (https://c2sp.org/tlog-witness): while `serve` runs it
// sends each new checkpoint of its own log to POST /add-checkpoint of every partner (a peer on
// the roster with a witness key, over the pinned mutual-TLS connection of sync) and of every
// external witness (khronika.conf `witness = URL VKEY [CA_FILE]`), and stores the cosignatures
// that verify: the partners' in table cosignatures, exactly as sync learns them, the external
// witnesses' apart in table external_cosignatures. Partners and each external witness have a
// thread of their own, so a witness that is down or slow delays nothing else (not the API, not
// sync, not the other witnesses). A partner answers 503 until it has pulled the checkpoint
// (it cosigns only what it holds whole); that, and any failure, is retried after 1, 2, 4 … s,
// at most a minute apart.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "khronika/http/client.h"
#include "khronika/http/peer_transport.h"
#include "khronika/log/node.h"
#include "khronika/replication/witness.h"

namespace khronika {

// Sends the checkpoint note of this node's log at `size` to the witness behind `client`
// (`prefix`: the URL's path, may be empty), from old size `old`; on 409 once or twice more
// from the size the witness says it holds, with a consistency proof from there. The
// signature lines of a 200 answer, unverified; an IOError naming the status otherwise.
Result<std::vector<NoteSignatureLine>> SendAddCheckpoint(HttpsClient& client,
                                                         const std::string& prefix, Node& node,
                                                         uint64_t size, const std::string& note,
                                                         uint64_t old);

class WitnessPusher {
 public:
  WitnessPusher(Node& node, std::vector<ExternalWitness> external, PeerClientOptions peers);
  ~WitnessPusher();
  WitnessPusher(const WitnessPusher&) = delete;
  WitnessPusher& operator=(const WitnessPusher&) = delete;

  void Start();
  // A new checkpoint of this node's log: send it everywhere now.
  void Poke();
  void Stop();

 private:
  struct Target {
    bool partners = false;  // the partners' thread; else one external witness
    ExternalWitness external;
    bool poked = true;  // push the current checkpoint at start
    std::thread thread;
  };
  void Run(Target& target);
  // Whether every partner (or the external witness) holds a cosignature of the latest
  // checkpoint afterwards.
  bool PushPartners();
  bool PushExternal(const ExternalWitness& w);

  Node& node_;
  ClientCancel cancel_;
  PeerClientOptions peers_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Target>> targets_;
};

}  // namespace khronika
