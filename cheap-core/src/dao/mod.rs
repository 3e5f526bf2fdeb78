//! DAO.
