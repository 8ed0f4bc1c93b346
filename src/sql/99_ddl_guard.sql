--------------------------------------------------------------------------------
-- The DDL guard (src/host_guard.cpp). Created last: the install's own DDL is done.
--------------------------------------------------------------------------------
CREATE EVENT TRIGGER customer_tracking_ddl_guard_start ON ddl_command_start
    EXECUTE FUNCTION customer_tracking_ddl_guard();
CREATE EVENT TRIGGER customer_tracking_ddl_guard_end ON ddl_command_end
    EXECUTE FUNCTION customer_tracking_ddl_guard();
