// Package ext stands in for Traefik's nested dynamic/ext module, which is not
// part of the traefik/v3 module zip. Traefik v3.7 embeds both types inline in
// its dynamic configuration and reads no field of either, so empty structs
// are enough (checked against v3.7.9's pkg/config/dynamic).
package ext

// HTTP is embedded inline in Traefik's dynamic.HTTP.
type HTTP struct{}

// Router is embedded inline in Traefik's dynamic.Router.
type Router struct{}
