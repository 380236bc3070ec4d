#!/usr/bin/env bash
# Makes a local time-stamping authority with stock openssl, for the timestamp tests:
#   ca.pem               the TSA's CA (what `tsa = URL CA_FILE` names)
#   tsa.pem              a TSA certificate from it: extendedKeyUsage critical, timeStamping
#   expired.pem          the same key, from the same CA, valid only in January 2020
#   other-ca.pem         a CA nobody trusts, and untrusted.pem, a TSA certificate from it
#   ts.cnf               `openssl ts -reply -config ts.cnf -section tsa_<good|expired|untrusted>`
# (`openssl ts -reply` itself refuses to sign with a certificate without the timeStamping usage.)
# Usage: make_tsa.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; exit 1; }; }

cat > ext.cnf <<'X'
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[tsa_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
for ca in ca other-ca; do
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca.key" \
    -out "$ca.pem" -days 3650 -subj "/O=Test TSA/CN=$ca" -extensions ca_ext -config <(
      printf '[req]\ndistinguished_name=dn\n[dn]\n'; cat ext.cnf)
done
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa.key \
  -out tsa.csr -subj "/O=Test TSA/CN=Test Time Stamping Authority"
q openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -sha256 \
  -extfile ext.cnf -extensions tsa_ext -out tsa.pem
q openssl x509 -req -in tsa.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 365 \
  -sha256 -extfile ext.cnf -extensions tsa_ext -out untrusted.pem
# openssl x509 cannot date a certificate in the past; openssl ca can.
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<'X'
[ca]
default_ca = test_ca
[test_ca]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = supplied
X
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -notext \
  -startdate 20200101000000Z -enddate 20200201000000Z -extfile ext.cnf -extensions tsa_ext \
  -in tsa.csr -out expired.pem

echo 01 > tsaserial
{
  for s in good:tsa.pem expired:expired.pem untrusted:untrusted.pem; do
    name=${s%%:*} cert=${s#*:}
    cat <<X
[tsa_$name]
serial = ./tsaserial
signer_cert = ./$cert
signer_key = ./tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
X
  done
} > ts.cnf
