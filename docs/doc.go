// Package docs holds the repository's reference documentation (the Markdown files beside this one); README.md at
// the root is the front door. Its tests check that every relative link of the documents resolves inside the
// repository and that every command block is run by a test or says why it is not (see internal/docblock).
package docs
