// Local stand-in for github.com/traefik/traefik/dynamic/ext: Traefik's go.mod
// replaces it with a nested directory that its module zip leaves out.
module github.com/traefik/traefik/dynamic/ext

go 1.26.0
