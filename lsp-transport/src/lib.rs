//! lsp-transport
