"""The ticketflow process engine around SpiffWorkflow: no Flask, no HTTP."""
