// Package selector parses and evaluates SQL-92 style message selectors as
// JMS defines them (JMS 1.1 §3.8.1 "Message Selector") and ActiveMQ users
// send in the STOMP selector header: comparisons (=, <>, <, >, <=, >=),
// AND, OR, NOT, [NOT] IN, [NOT] LIKE with ESCAPE, IS [NOT] NULL,
// [NOT] BETWEEN, arithmetic and parentheses, with SQL's three-valued logic
// (an absent header is NULL, and a comparison with NULL is unknown).
//
// Headers arrive as strings over STOMP, so a string compared with a number
// is converted when it parses as one (ActiveMQ's STOMP users rely on
// "priority > 5" working). The package is a leaf: the caller supplies a
// lookup function.
package selector
