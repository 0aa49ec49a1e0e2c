package core

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
)

// User is a broker account. Name and password are also the SigV4 access key
// id and secret for HTTP request signing.
type User struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

const usersNS = "users"

// SetUsers replaces the configured users. With none configured anonymous
// access is allowed.
func (b *Broker) SetUsers(users []User) error {
	b.umu.Lock()
	defer b.umu.Unlock()
	old := b.users
	b.users = make(map[string]User, len(users))
	for _, u := range users {
		b.users[u.Name] = u
	}
	ms := b.Meta(usersNS)
	for name := range old {
		if _, ok := b.users[name]; !ok {
			_ = ms.Delete(name)
		}
	}
	for _, u := range users {
		v, _ := json.Marshal(u)
		if err := ms.Put(u.Name, v); err != nil {
			return fmt.Errorf("store user %q: %w", u.Name, err)
		}
	}
	return nil
}

// Authenticate checks a name and password. It returns ErrAccessDenied on a
// mismatch; with no users configured every login is accepted.
func (b *Broker) Authenticate(name, password string) error {
	b.umu.RLock()
	defer b.umu.RUnlock()
	if len(b.users) == 0 {
		return nil
	}
	u, ok := b.users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return fmt.Errorf("login refused for user %q: %w", name, ErrAccessDenied)
	}
	return nil
}

// UserPassword returns a user's password (the SigV4 secret).
func (b *Broker) UserPassword(name string) (string, bool) {
	b.umu.RLock()
	defer b.umu.RUnlock()
	u, ok := b.users[name]
	return u.Password, ok
}

// AnonymousAllowed reports whether no users are configured.
func (b *Broker) AnonymousAllowed() bool {
	b.umu.RLock()
	defer b.umu.RUnlock()
	return len(b.users) == 0
}

func (b *Broker) loadUsers() {
	ms := b.Meta(usersNS)
	b.users = map[string]User{}
	for k, v := range ms.List() {
		var u User
		if json.Unmarshal(v, &u) == nil && u.Name == k {
			b.users[k] = u
		}
	}
}
