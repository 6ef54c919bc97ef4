console.log("deputy");
