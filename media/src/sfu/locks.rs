//! Lock helpers that recover a poisoned lock instead of panicking: what these locks guard
//! (lists of publications and legs, negotiation state, candidates) stays usable after a
//! holder panicked, so one panic does not take every later request down with it.

use std::sync::{Mutex, RwLock};

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
