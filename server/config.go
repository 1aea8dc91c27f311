package server

import "github.com/panels/panels/server/config"

// Config is the service's configuration; package config holds its settings table.
type Config = config.Config

// ConfigFromEnv parses and validates the configuration. A bad value is an error naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return config.FromEnv(getenv)
}
