#!/usr/bin/env bash
# test/make-tls.sh DIR: a CA made for this run, and a certificate it signed
# for localhost, 127.0.0.1 and ::1.  Written to DIR/{ca,server}.{pem,key};
# DIR/other.{pem,key} is one for another name (other.example).  Valid for
# WEBPUSH_TLS_DAYS days (2 by default).
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.pem -days "${WEBPUSH_TLS_DAYS:-2}" -subj "/CN=webpush test CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days "${WEBPUSH_TLS_DAYS:-2}" -extfile server.ext 2>/dev/null
# A certificate from the same CA for another name: connecting to localhost
# and being shown it must fail the hostname check.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout other.key -out other.csr -subj "/CN=other.example" 2>/dev/null
printf 'subjectAltName=DNS:other.example\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' > other.ext
openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out other.pem -days "${WEBPUSH_TLS_DAYS:-2}" -extfile other.ext 2>/dev/null
chmod 600 ca.key server.key other.key
