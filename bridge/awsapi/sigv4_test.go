package awsapi

import (
	"bytes"
	"net/textproto"
	"strings"
	"testing"
)

// TestSigningKeyCache: the cached key equals the four-HMAC derivation of
// AWS SigV4 "Calculate the signature", and a changed secret or scope never
// gets another entry's key.
func TestSigningKeyCache(t *testing.T) {
	derive := func(secret, date, region, service string) []byte {
		k := hmacSHA256([]byte("AWS4"+secret), date)
		k = hmacSHA256(k, region)
		k = hmacSHA256(k, service)
		return hmacSHA256(k, "aws4_request")
	}
	cases := [][4]string{
		{"guest", "20261125", "us-east-1", "sqs"},
		{"other", "20261125", "us-east-1", "sqs"},
		{"guest", "20261126", "us-east-1", "sqs"},
		{"guest", "20261125", "eu-west-1", "sqs"},
		{"guest", "20261125", "us-east-1", "sns"},
	}
	for round := 0; round < 2; round++ { // the second round is served from the cache
		for _, c := range cases {
			got := signingKey(c[0], c[1], c[2], c[3])
			want := derive(c[0], c[1], c[2], c[3])
			if !bytes.Equal(got.key, want) {
				t.Fatalf("round %d %v: cached key differs from the derivation", round, c)
			}
			for _, data := range []string{"a", "string to sign", ""} { // reused HMAC states start clean
				if mac := got.sum([]byte(data), nil); !bytes.Equal(mac, hmacSHA256(want, data)) {
					t.Fatalf("round %d %v: HMAC of %q from a reused state differs", round, c, data)
				}
			}
		}
	}
	for i := 0; i < maxSigningKeys+10; i++ { // overflow empties the cache; keys stay right
		signingKey("s", string(rune('a'+i%26))+string(rune(i)), "r", "sqs")
	}
	if len(signingKeys.m) > maxSigningKeys {
		t.Fatalf("cache holds %d keys, bound is %d", len(signingKeys.m), maxSigningKeys)
	}
	if got, want := signingKey("guest", "20261125", "us-east-1", "sqs"), derive("guest", "20261125", "us-east-1", "sqs"); !bytes.Equal(got.key, want) {
		t.Fatal("key after overflow differs")
	}
}

func TestTrimmedMatchesFieldsJoin(t *testing.T) {
	for _, v := range []string{"", "a", "a b", "a  b", " a", "a ", "a\tb", "AWS4-HMAC-SHA256 x", "\u00a0a", "a\u0085", "x;y=z", "  "} {
		want := strings.Join(strings.Fields(v), " ") == v
		if got := trimmed(v); got && !want {
			t.Errorf("trimmed(%q) = true, but Fields+Join changes it", v)
		}
	}
}

// Every shortcut of signedHeaderKeys is the canonical form of its name.
func TestSignedHeaderKeysCanonical(t *testing.T) {
	for k, ck := range signedHeaderKeys {
		if want := textproto.CanonicalMIMEHeaderKey(k); ck != want || strings.ToLower(ck) != k {
			t.Errorf("%q -> %q, canonical is %q", k, ck, want)
		}
	}
}
