package sns

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/omnibroker/broker/core"
)

// Envelope is the JSON document SNS delivers to SQS (unless raw) and
// HTTP/HTTPS endpoints. Field order is AWS's ("Amazon SNS message and JSON
// formats": HTTP/HTTPS notification, subscription confirmation and
// unsubscribe confirmation JSON formats).
type Envelope struct {
	Type              string                  `json:"Type"`
	MessageID         string                  `json:"MessageId"`
	Token             string                  `json:"Token,omitempty"`
	SequenceNumber    string                  `json:"SequenceNumber,omitempty"`
	TopicArn          string                  `json:"TopicArn"`
	Subject           string                  `json:"Subject,omitempty"`
	Message           string                  `json:"Message"`
	SubscribeURL      string                  `json:"SubscribeURL,omitempty"`
	Timestamp         string                  `json:"Timestamp"`
	SignatureVersion  string                  `json:"SignatureVersion,omitempty"`
	Signature         string                  `json:"Signature,omitempty"`
	SigningCertURL    string                  `json:"SigningCertURL,omitempty"`
	UnsubscribeURL    string                  `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]envelopeAttr `json:"MessageAttributes,omitempty"`
}

type envelopeAttr struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// Envelope types.
const (
	TypeNotification    = "Notification"
	TypeSubConfirmation = "SubscriptionConfirmation"
	TypeUnsubConfirm    = "UnsubscribeConfirmation"
)

// timestampFormat is the ISO 8601 UTC format of envelope timestamps.
const timestampFormat = "2006-01-02T15:04:05.000Z"

// StringToSign builds the canonical string of an envelope ("Verifying the
// signatures of Amazon SNS messages"): for Notification the keys Message,
// MessageId, Subject (when present), Timestamp, TopicArn, Type; for the
// confirmations Message, MessageId, SubscribeURL, Timestamp, Token,
// TopicArn, Type; each as "key\nvalue\n".
func StringToSign(e *Envelope) []byte {
	var b bytes.Buffer
	add := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	add("Message", e.Message)
	add("MessageId", e.MessageID)
	if e.Type == TypeNotification {
		if e.Subject != "" {
			add("Subject", e.Subject)
		}
	} else {
		add("SubscribeURL", e.SubscribeURL)
	}
	add("Timestamp", e.Timestamp)
	if e.Type != TypeNotification {
		add("Token", e.Token)
	}
	add("TopicArn", e.TopicArn)
	add("Type", e.Type)
	return b.Bytes()
}

// Signer signs envelopes with the broker's SNS key.
type Signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
	certID  string // file name part of the SigningCertURL

	mu       sync.Mutex
	cache    [2]map[string]string // signature cache: current and previous generation
	inflight map[string]*signCall // signatures being computed (one RSA operation per text)
}

type signCall struct {
	done chan struct{}
	sig  string
	err  error
}

const signerMetaKey = "signing-key"

type signerRecord struct {
	Key  []byte `json:"key"`  // PKCS#8 DER
	Cert []byte `json:"cert"` // X.509 DER
}

// loadSigner returns the persisted signing key, generating and storing a
// new one (RSA 2048, self-signed certificate) on first use.
func loadSigner(meta *core.MetaStore) (*Signer, error) {
	if raw, err := meta.Get(signerMetaKey); err == nil {
		var rec signerRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("sns signing key: %w", err)
		}
		k, err := x509.ParsePKCS8PrivateKey(rec.Key)
		if err != nil {
			return nil, fmt.Errorf("sns signing key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("sns signing key: not RSA")
		}
		return newSigner(rk, rec.Cert), nil
	} else if !errors.Is(err, core.ErrNotFound) {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sns.omnibroker.local", Organization: []string{"omnibroker"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(signerRecord{Key: pk, Cert: der})
	if err := meta.Put(signerMetaKey, raw); err != nil {
		return nil, err
	}
	return newSigner(key, der), nil
}

func newSigner(k *rsa.PrivateKey, certDER []byte) *Signer {
	sum := sha256.Sum256(certDER)
	return &Signer{
		key:      k,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		certID:   hex.EncodeToString(sum[:16]),
		cache:    [2]map[string]string{{}, {}},
		inflight: map[string]*signCall{},
	}
}

// CertPath is the URL path of the signing certificate.
func (s *Signer) CertPath() string { return "/SimpleNotificationService-" + s.certID + ".pem" }

// CertPEM returns the PEM certificate.
func (s *Signer) CertPEM() []byte { return s.certPEM }

// Sign sets SignatureVersion and Signature on e. version is "1"
// (SHA1withRSA) or "2" (SHA256withRSA). Signatures are cached by
// the signed text, so one message fanned out to many subscriptions is
// signed once.
func (s *Signer) Sign(e *Envelope, version string) error {
	if version != "2" {
		version = "1"
	}
	text := StringToSign(e)
	ck := version + string(text)
	s.mu.Lock()
	sig, ok := s.cache[0][ck]
	if !ok {
		sig, ok = s.cache[1][ck]
	}
	if ok {
		s.mu.Unlock()
		e.SignatureVersion, e.Signature = version, sig
		return nil
	}
	// Subscriptions of one topic sign the same text at the same moment:
	// the first computes, the others wait for its result.
	if c, busy := s.inflight[ck]; busy {
		s.mu.Unlock()
		<-c.done
		if c.err != nil {
			return c.err
		}
		e.SignatureVersion, e.Signature = version, c.sig
		return nil
	}
	c := &signCall{done: make(chan struct{})}
	s.inflight[ck] = c
	s.mu.Unlock()
	c.sig, c.err = s.sign(text, version)
	s.mu.Lock()
	delete(s.inflight, ck)
	if c.err == nil {
		if len(s.cache[0]) >= 2048 {
			s.cache[1] = s.cache[0]
			s.cache[0] = make(map[string]string, 2048)
		}
		s.cache[0][ck] = c.sig
	}
	s.mu.Unlock()
	close(c.done)
	if c.err != nil {
		return c.err
	}
	sig = c.sig
	e.SignatureVersion = version
	e.Signature = sig
	return nil
}

func (s *Signer) sign(text []byte, version string) (string, error) {
	var h crypto.Hash
	var digest []byte
	if version == "2" {
		sum := sha256.Sum256(text)
		h, digest = crypto.SHA256, sum[:]
	} else {
		sum := sha1.Sum(text)
		h, digest = crypto.SHA1, sum[:]
	}
	raw, err := rsa.SignPKCS1v15(nil, s.key, h, digest)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// VerifyEnvelope checks e's signature against a PEM certificate, as an
// HTTP endpoint does.
func VerifyEnvelope(e *Envelope, certPEM []byte) error {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil {
		return err
	}
	text := StringToSign(e)
	switch e.SignatureVersion {
	case "1":
		sum := sha1.Sum(text)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256(text)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	return fmt.Errorf("unknown SignatureVersion %q", e.SignatureVersion)
}

// marshalEnvelope encodes e without HTML escaping (AWS sends '<', '>' and
// '&' as they are).
func marshalEnvelope(e *Envelope) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(e)
	out := b.Bytes()
	return out[:len(out)-1] // Encode appends '\n'
}
