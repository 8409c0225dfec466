#!/usr/bin/env bash
# fake-graph: a rich presence notification (resource in the bulk one-id
# form Microsoft published in 2024) decrypts with the openssl command line
# (an implementation independent of ours) to the expected JSON, its HMAC and
# thumbprint check out, and its validationToken (v1, then v2) verifies
# against the JWKS that fake-graph publishes, whose x5c/x5t match the key.
source "$(dirname "$0")/../lib/common.sh"
source "$PS_SRC/tests/fakes/graph/it_lib.sh"

b64url_d() { # base64url -> bytes
    local s
    s=$(tr '_-' '/+' <<<"$1")
    while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
    base64 -d <<<"$s"
}
hex() { od -An -v -tx1 | tr -d ' \n'; }

start_fake_graph
base_users
start_sink ok --validation echo
svc=$(svc_token)

# a throw-away certificate (never committed)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/notify.key" -out "$T/notify.crt" \
    -days 1 -subj "/CN=presence-notify" 2>/dev/null || fail "openssl req"
cert=$(openssl x509 -in "$T/notify.crt" -outform der | base64 -w0)
r=$(gcall POST /subscriptions "$svc" "$(sub_body "$SINK_ok/graph/notify/t" \
    ",\"includeResourceData\":true,\"encryptionCertificate\":\"$cert\",\"encryptionCertificateId\":\"key-1\"")")
[ "${r%% *}" = 201 ] || fail "rich create: $r"
sid=$(jq -r .id <<<"${r#* }")

# alice starts a Teams call -> Busy/InACall -> one rich notification
ctl POST "/users/alice@contoso.com/start/call" >/dev/null
wait_line 10 "$T/ok.jsonl" '"value"' || fail "no notification"
body=$(head -n1 "$T/ok.jsonl")
item=$(jq -c '.value[0]' <<<"$body")
jqe --arg s "$sid" --arg a "$ALICE_ID" --arg t "$TENANT" '
    .subscriptionId == $s and .changeType == "updated" and .clientState == "cs-123" and
    .tenantId == $t and
    .resource == ("communications/presences?$filter=id+in+(%27" + $a + "%27)") and
    .resourceData == {"@odata.type": "#Microsoft.Graph.presence",
                      "@odata.id": ("users/" + $a + "/presence"), "id": $a} and
    (.subscriptionExpirationDateTime | length) > 0 and
    .encryptedContent.encryptionCertificateId == "key-1"' <<<"$item" >/dev/null ||
    fail "item fields: $item"

# thumbprint = upper-case hex SHA-1 of the DER
want_thumb=$(openssl x509 -in "$T/notify.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
[ "$(jq -r .encryptedContent.encryptionCertificateThumbprint <<<"$item")" = "$want_thumb" ] ||
    fail "thumbprint: $item vs $want_thumb"

# unwrap the key: RSA-OAEP with SHA-1 and MGF1-SHA-1
jq -r .encryptedContent.dataKey <<<"$item" | base64 -d >"$T/dk.bin"
openssl pkeyutl -decrypt -inkey "$T/notify.key" -in "$T/dk.bin" -out "$T/key.bin" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 ||
    fail "RSA-OAEP unwrap"
[ "$(stat -c %s "$T/key.bin")" = 32 ] || fail "key is not 32 bytes"
key=$(hex <"$T/key.bin")

# HMAC-SHA256 over the ciphertext bytes
jq -r .encryptedContent.data <<<"$item" | base64 -d >"$T/data.bin"
mac=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary "$T/data.bin" | base64 -w0)
[ "$mac" = "$(jq -r .encryptedContent.dataSignature <<<"$item")" ] || fail "HMAC mismatch"

# AES-256-CBC, IV = first 16 bytes of the key, PKCS7
plain=$(openssl enc -d -aes-256-cbc -K "$key" -iv "${key:0:32}" -in "$T/data.bin") || fail "AES decrypt"
jqe --arg a "$ALICE_ID" '. == {"@odata.type": "#Microsoft.Graph.presence",
    "@odata.id": ("users/" + $a + "/presence"), "id": $a, "availability": "Busy",
    "activity": "InACall", "sequenceNumber": .sequenceNumber} and (.sequenceNumber | length) > 0' \
    <<<"$plain" >/dev/null || fail "plaintext: $plain"

# validationTokens: one RS256 JWT with the documented claims ...
jwt=$(jq -r '.validationTokens[0]' <<<"$body")
[ "$(jq '.validationTokens | length' <<<"$body")" = 1 ] || fail "validationTokens: $body"
IFS=. read -r h p s <<<"$jwt"
hdr=$(b64url_d "$h")
claims=$(b64url_d "$p")
now=$(date +%s)
jqe '.alg == "RS256"' <<<"$hdr" >/dev/null || fail "jwt header: $hdr"
jqe --arg c "$CLIENT_ID" --arg t "$TENANT" --argjson now "$now" '
    .aud == $c and .iss == ("https://sts.windows.net/" + $t + "/") and
    .appid == "0bf30f3b-4a52-48df-9a82-234910c4a086" and .tid == $t and .ver == "1.0" and
    .idp == ("https://sts.windows.net/" + $t + "/") and (has("azp") | not) and
    .exp > $now and .nbf <= $now' <<<"$claims" >/dev/null || fail "jwt claims: $claims"

# ... signed by the key published as JWKS, selected by kid
jwks=$(curl -s "$FG/common/discovery/v2.0/keys")
kid=$(jq -r .kid <<<"$hdr")
jwk=$(jqe -c --arg k "$kid" '.keys[] | select(.kid == $k)' <<<"$jwks") || fail "kid $kid not in $jwks"
n=$(b64url_d "$(jq -r .n <<<"$jwk")" | hex)
e=$(b64url_d "$(jq -r .e <<<"$jwk")" | hex)
printf 'asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:0x%s\ne=INTEGER:0x%s\n' "$n" "$e" >"$T/pk.cnf"
openssl asn1parse -genconf "$T/pk.cnf" -out "$T/pk.der" >/dev/null || fail "asn1parse"
openssl rsa -RSAPublicKey_in -inform DER -in "$T/pk.der" -pubout -out "$T/pk.pem" 2>/dev/null || fail "jwk to pem"
printf '%s.%s' "$h" "$p" >"$T/signed.txt"
b64url_d "$s" >"$T/sig.bin"
openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null ||
    fail "JWT signature does not verify"
# a tampered payload does not verify
printf '%s.%sx' "$h" "$p" >"$T/signed.txt"
! openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null 2>&1 ||
    fail "tampered JWT verified"

# the key's certificate (x5c) holds the same public key, x5t is its thumbprint
printf '%s' "$(jq -r '.x5c[0]' <<<"$jwk")" | base64 -d >"$T/x5c.der" || fail "x5c not base64"
openssl x509 -inform DER -in "$T/x5c.der" -pubkey -noout >"$T/x5c.pem" || fail "x5c is no certificate"
cmp -s <(openssl pkey -pubin -in "$T/x5c.pem" -outform DER) <(openssl pkey -pubin -in "$T/pk.pem" -outform DER) ||
    fail "x5c and n/e differ"
x5t=$(openssl dgst -sha1 -binary "$T/x5c.der" | base64 -w0 | tr '+/' '-_' | tr -d '=')
[ "$(jq -r .x5t <<<"$jwk")" = "$x5t" ] || fail "x5t is not the certificate's SHA-1"

# v2 validation tokens and the subscription's whole filter, as settings
ctl POST /settings '{"validation_token_version":2,"resource_form":"all_ids"}' >/dev/null
ctl POST "/users/alice@contoso.com/end/call" >/dev/null
wait_for 10 bash -c "[ \$(wc -l <'$T/ok.jsonl') -ge 2 ]" || fail "no second notification"
body=$(sed -n 2p "$T/ok.jsonl")
filter=$(jq -r --arg a "$ALICE_ID" --arg b "$BOB_ID" -n '"communications/presences?$filter=id+in+(" +
    ([$a, $b] | map("%27" + . + "%27") | join("%2c")) + ")"')
jqe --arg f "$filter" --arg a "$ALICE_ID" '.value[0] | .resource == $f and
    .resourceData["@odata.id"] == $f and .resourceData.id == $a' <<<"$body" >/dev/null ||
    fail "whole-filter item: $(jq -c '.value[0] | {resource, resourceData}' <<<"$body") want $filter"
IFS=. read -r h p s <<<"$(jq -r '.validationTokens[0]' <<<"$body")"
claims=$(b64url_d "$p")
jqe --arg c "$CLIENT_ID" --arg t "$TENANT" '.aud == $c and
    .iss == ("https://login.microsoftonline.com/" + $t + "/v2.0") and
    .azp == "0bf30f3b-4a52-48df-9a82-234910c4a086" and (has("appid") | not) and .ver == "2.0" and
    .tid == $t' <<<"$claims" >/dev/null || fail "v2 claims: $claims"
printf '%s.%s' "$h" "$p" >"$T/signed.txt"
b64url_d "$s" >"$T/sig.bin"
openssl dgst -sha256 -verify "$T/pk.pem" -signature "$T/sig.bin" "$T/signed.txt" >/dev/null ||
    fail "v2 JWT signature does not verify"

# the delivery was recorded with its status and ack time
d=$(ctl GET /deliveries | jq -c '[.[] | select(.kind == "change")][0]')
jqe '.status == 202 and .ok and .ack_ms >= 0 and .attempt == 1' <<<"$d" >/dev/null || fail "delivery: $d"
pass
