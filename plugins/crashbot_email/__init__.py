"""E-mail for crashbot: SMTP transport, responder mail and status-page subscribers."""
