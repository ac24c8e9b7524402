//! KeysManager.
