// Package deploy holds no code of the service: its tests check the deployment files against the real
// tools and API types so a broken chart, compose file or image definition fails `make test`, not a
// release.
//
//   - The Helm chart (doks/helm/wallet-service) is linted and rendered by the helm CLI (built by
//     scripts/install_helm.sh into the shared tools cache, or $HELM) with the default values, the
//     production values and the deployment guide's own commands, and every rendered manifest is decoded strictly into the k8s.io/api types, so a
//     misspelt field fails; the probes, security contexts, the audit CronJob, the migrate hook and the
//     termination grace period are then checked on the typed objects.
//   - The droplet compose file (droplet/docker-compose.yml) is loaded and validated by compose-go, the
//     loader and schema validation `docker compose config` itself uses (no compose plugin is installed
//     on these machines).
//   - The Dockerfile's binary list must equal the folders of cmd/.
package deploy
