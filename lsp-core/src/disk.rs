//! The on-disk copy of a [`LocalLocationService`](crate::LocalLocationService), on redb.
//!
//! Each AOR is one row: its Resource-ID and the packed entry that memory
//! holds. Every write commits durably before memory changes, so a record
//! acknowledged to a publisher survives a crash.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::store::Change;
use crate::{Error, ResourceId, StorageError};

const ENTRIES: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("entries");

#[derive(Debug)]
pub(crate) struct DiskStore {
    db: Database,
}

fn storage(e: impl Into<redb::Error>) -> Error {
    StorageError::new("the redb file", e.into()).into()
}

impl DiskStore {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let db = Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(ENTRIES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db })
    }

    pub fn load(&self, mut f: impl FnMut(ResourceId, Box<[u8]>)) -> Result<(), Error> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        for row in table.iter().map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            f(ResourceId(*k.value()), v.value().into());
        }
        Ok(())
    }

    pub fn apply(&self, change: &Change) -> Result<(), Error> {
        self.write(|table| match change {
            Change::Stored(rid, packed) => table.insert(rid.as_bytes(), &**packed).map(drop),
            Change::Removed(rid) => table.remove(rid.as_bytes()).map(drop),
        })
    }

    pub fn remove(&self, gone: &[ResourceId]) -> Result<(), Error> {
        if gone.is_empty() {
            return Ok(());
        }
        self.write(|table| {
            gone.iter()
                .try_for_each(|rid| table.remove(rid.as_bytes()).map(drop))
        })
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &[u8; 32], &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), Error> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        txn.set_durability(Durability::Immediate).map_err(storage)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(storage)?;
            f(&mut table).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }
}
