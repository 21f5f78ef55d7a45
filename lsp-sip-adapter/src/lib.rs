//! lsp-sip-adapter
