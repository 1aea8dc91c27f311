# syntax=docker/dockerfile:1
# Panels API: a static binary on a distroless base, running as a non-root user.
# Build: docker build -t panels .   Run: see compose.yaml.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so a code change does not download modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/panels ./cmd/panels

# distroless/static has CA certificates (JWKS and Stytch over HTTPS) and tzdata, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/panels /usr/local/bin/panels
USER 65532:65532
ENV PORT=3001
EXPOSE 3001
# No shell or curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/panels", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/panels"]
CMD ["serve"]
