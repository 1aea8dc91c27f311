package dsconfig

// ConnPassword returns the password written in a connection string ("" when none). A sync must
// connect with exactly what the source's owner wrote: a PostgreSQL driver would otherwise fill a
// missing password from the service's own environment (PGPASSWORD) or password file.
func ConnPassword(s string) string {
	secrets, ok := connSecrets(s)
	if !ok {
		return ""
	}
	for _, sec := range secrets {
		if sec.name == "password" {
			return sec.value
		}
	}
	return ""
}
