package auth

// Home is the user's home in the unscoped storage ("/" for the whole
// store): a name N in the user's view is path.Join(Home(), N) there. The
// front end uses it to name objects in events.
func (a *Account) Home() string {
	if s, ok := a.FS.(*scoped); ok {
		return s.home
	}
	return "/"
}
