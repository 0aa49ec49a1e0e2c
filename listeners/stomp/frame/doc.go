// Package frame is the STOMP 1.0/1.1/1.2 frame codec: a Reader that parses
// frames from a byte stream under size limits, and Append/Writer that
// encode them, with the header escaping rules of each protocol version and
// content-length bodies that may contain NUL bytes.
//
// It is a leaf package: it knows the wire format, not the session rules.
// Spec references are to https://stomp.github.io/stomp-specification-1.2.html
// (and the 1.1 and 1.0 documents for their differences).
package frame
