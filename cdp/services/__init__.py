"""cdp operations. Import from the submodules: `from cdp.services import contacts, identity, ...`."""
