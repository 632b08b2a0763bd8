"""What more than one backend uses: environment recipes, the gateway's routing and metrics reader, the scoring client."""
