"""Provider adapters behind one protocol (``base.Provider``); ``registry`` builds them."""
