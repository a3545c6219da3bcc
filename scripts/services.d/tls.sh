# shellcheck shell=bash
# The TLS material all servers share: a throw-away CA and a certificate for "localhost".

tls_ok() {
  [[ -s "$TLS/ca.pem" && -s "$TLS/ca.key" && -s "$TLS/server.pem" && -s "$TLS/server.key" ]] \
    && openssl verify -CAfile "$TLS/ca.pem" -purpose sslserver "$TLS/server.pem" >/dev/null 2>&1 \
    && [[ "$(openssl x509 -noout -pubkey -in "$TLS/server.pem" 2>/dev/null)" \
          == "$(openssl pkey -pubout -in "$TLS/server.key" 2>/dev/null)" ]]
}

make_tls() {
  mkdir -p "$TLS"
  chmod 0755 "$TLS"
  if ! tls_ok; then
    log "services: generating test CA and server certificate in $TLS"
    local tmp
    tmp="$(mktemp -d "$TLS/gen.XXXXXX")"
    cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = db-secret-rotator test CA
O = db-secret-rotator tests
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    cat >"$tmp/server.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
O = db-secret-rotator tests
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -config "$tmp/ca.cnf" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>"$tmp/openssl.log" \
      || { show_log "$tmp/openssl.log"; die "openssl: CA generation failed"; }
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
      -config "$tmp/server.cnf" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>>"$tmp/openssl.log" \
      || { show_log "$tmp/openssl.log"; die "openssl: server CSR failed"; }
    openssl x509 -req -sha256 -days 3650 -in "$tmp/server.csr" \
      -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -extfile "$tmp/server.cnf" -extensions v3_server -out "$tmp/server.pem" 2>>"$tmp/openssl.log" \
      || { show_log "$tmp/openssl.log"; die "openssl: server certificate signing failed"; }
    openssl verify -CAfile "$tmp/ca.pem" -purpose sslserver "$tmp/server.pem" >/dev/null \
      || die "openssl: generated server certificate does not verify against the CA"
    chmod 0600 "$tmp/ca.key" "$tmp/server.key"
    chmod 0644 "$tmp/ca.pem" "$tmp/server.pem"
    mv -f "$tmp/ca.key" "$tmp/ca.pem" "$tmp/server.key" "$tmp/server.pem" "$TLS/"
    rm -rf "$tmp"
  fi
  # Per-server copies: PostgreSQL insists on 0600 keys owned by its user.
  local u
  for u in postgres mysql; do
    install -d -m 0750 -o "$u" -g "$u" "$TLS/$u"
    install_copy "$TLS/server.pem" "$TLS/$u/server.pem" "$u"
    install_copy "$TLS/server.key" "$TLS/$u/server.key" "$u"
  done
}

